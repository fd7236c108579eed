# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""DistributedDataParallel through torchrun on the CPU (gloo, 2 processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rxssnet_core.training.checkpointing import load_training_checkpoint

# Runs under torchrun: trains with the Trainer, records which files each rank wrote, dumps its parameters.
WORKER = r'''
import json, os, sys
from pathlib import Path

import torch

import rxssnet_core.training.checkpointing as ckpt
import rxssnet_core.training.trainer as trainer_module
from rxssnet_core.training import TrainConfig, Trainer
from rxssnet_core.training.distributed import cleanup_distributed

rank = int(os.environ["RANK"])
writes = []
# patched where the trainer looks them up (it imports save_model by name)
save_state, save_model = ckpt.atomic_torch_save, trainer_module.save_model
ckpt.atomic_torch_save = lambda obj, path: (writes.append(Path(path).name), save_state(obj, path))[1]
trainer_module.save_model = lambda model, path, metadata=None: (writes.append(Path(path).name),
                                                                save_model(model, path, metadata))[1]
config = TrainConfig.from_dict(json.loads(Path(sys.argv[1]).read_text()))
trainer = Trainer(config, device="cpu")
trainer.sampler.set_epoch(0)
first_epoch = [index for index, _ in trainer.sampler]
result = trainer.fit()
out = Path(sys.argv[2])
torch.save({name: p.detach() for name, p in trainer.raw_model.named_parameters()}, out / f"params{rank}.pt")
(out / f"rank{rank}.json").write_text(json.dumps({
    "world_size": trainer.dist.world_size, "steps": result.global_step, "writes": writes,
    "losses": result.step_losses, "val": result.val_mious, "first_epoch": first_epoch}))
cleanup_distributed()
'''


@pytest.mark.slow
def test_two_process_gloo_training(tmp_path: Path, ros_env: dict) -> None:
    from rxssnet_core.data.synthetic import generate_fusion_dataset

    root = generate_fusion_dataset(tmp_path / "data", counts={"train": 8, "val": 2}, size=(64, 64), seed=1,
                                   progress=False)
    run = tmp_path / "run"
    config = {
        "dataset": {"name": "synthetic_fusion", "root": str(root), "val_split": "val"},
        "model": {"variant": "atto", "decoder_dim": 32},
        "optimizer": {"lr": 1e-3},
        "schedule": {"epochs": 2, "warmup_epochs": 1},
        "train": {"batch_size": 2, "crop_size": [64, 64], "scales": [0.75, 1.0], "num_workers": 0},
        "checkpoint": {"every_n_steps": 1},
        "logging": {"progress": False, "tensorboard": False},
        "output_dir": str(run),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "worker.py").write_text(WORKER)
    out = tmp_path / "out"
    out.mkdir()
    env = {**ros_env, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(tmp_path / "worker.py"), str(tmp_path / "config.json"), str(out)],
        env=env, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]  # both ranks finished
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 4  # 8 images / (2 per batch x 2 ranks) x 2 epochs
    # The DistributedSampler shards the data: the ranks see disjoint halves of the epoch.
    assert not set(ranks[0]["first_epoch"]) & set(ranks[1]["first_epoch"])
    assert sorted(ranks[0]["first_epoch"] + ranks[1]["first_epoch"]) == list(range(8))
    # Rank 0 alone writes checkpoints and exported models.
    assert ranks[1]["writes"] == []
    assert {"last.pt", "best.safetensors", "final.safetensors"} <= set(ranks[0]["writes"])
    # Losses are averaged over ranks and validation confusion matrices summed: both ranks agree.
    assert ranks[0]["losses"] == ranks[1]["losses"] and ranks[0]["val"] == ranks[1]["val"]
    # DDP keeps the replicas identical (bit for bit: all-reduced gradients, same optimizer steps).
    params = [torch.load(out / f"params{r}.pt", weights_only=True) for r in (0, 1)]
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])
    state = load_training_checkpoint(run / "checkpoints" / "last.pt")
    assert state["progress"]["world_size"] == 2 and len(state["rng_per_rank"]) == 2
    assert state["progress"]["global_step"] == 4
