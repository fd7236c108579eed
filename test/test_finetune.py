# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning that does not forget (`rxssnet train --init-from`, training/finetune.py): the checkpoint's network,
weights, classes, palette and preprocessing are kept, a replay share of the original data is mixed in, and the new
checkpoint records its parent and its data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from rxssnet_core import ModelConfig, build_model, save_model
from rxssnet_core.cli import main as rxssnet_main
from rxssnet_core.data import DATASETS
from rxssnet_core.data.synthetic import generate_fusion_dataset
from rxssnet_core.models.checkpoints import load_checkpoint
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_core.training.config import TrainConfig, TrainConfigError, load_train_config
from rxssnet_core.training.finetune import file_sha256
from rxssnet_core.training.trainer import Trainer

CONFIG = Path(__file__).resolve().parents[1] / "config" / "train" / "synthetic_fusion.yaml"
SIZE = (32, 40)
PALETTE = [[10, 10, 10], [200, 0, 0], [0, 200, 0], [0, 0, 200]]  # not the dataset's: the checkpoint's wins


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("finetune")
    original = generate_fusion_dataset(base / "original", {"train": 6}, size=SIZE, seed=1, progress=False)
    new = generate_fusion_dataset(base / "new", {"train": 4}, size=SIZE, seed=2, progress=False)
    (new / "mining.json").write_text(json.dumps({"picks": []}))  # as `rxssnet bag mine` leaves it
    info = DATASETS["synthetic_fusion"]
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=4, decoder_dim=16))
    preprocess = PreprocessConfig(modality="thermal", thermal_range=[0.0, 200.0])
    parent = save_model(model, base / "parent.safetensors", metadata={
        "preprocess": preprocess.to_dict(), "class_names": list(info.class_names), "palette": PALETTE,
        "dataset": info.name})
    return {"original": original, "new": new, "parent": parent, "preprocess": preprocess, "base": base}


def _config(case: dict[str, Any], *extra: str) -> TrainConfig:
    return load_train_config(CONFIG, [
        f"dataset.root={case['new']}", "dataset.val_split=null", "val.every_n_epochs=0", "schedule.epochs=1",
        "train.batch_size=2", f"train.crop_size=[{SIZE[0]}, {SIZE[1]}]", "logging.tensorboard=false",
        "logging.progress=false", f"model.init_from={case['parent']}", *extra])


def test_starts_from_the_checkpoint_and_keeps_its_classes_palette_preprocessing(case: dict[str, Any]) -> None:
    trainer = Trainer(_config(case), output_dir=case["base"] / "run", device="cpu")
    _, parent_state, _ = load_checkpoint(case["parent"])
    for name, tensor in trainer.raw_model.state_dict().items():
        assert torch.equal(tensor, parent_state[name]), name
    assert trainer.raw_model.config.decoder_dim == 16  # the parent's network, not the YAML's 32
    assert trainer.preprocess == case["preprocess"]
    assert len(trainer.train_dataset) == 4  # no replay
    result = trainer.fit()
    _, _, metadata = load_checkpoint(result.final_path)
    assert metadata["palette"] == PALETTE
    assert metadata["preprocess"] == case["preprocess"].to_dict()
    lineage = metadata["lineage"]
    assert lineage["parent"]["sha256"] == file_sha256(case["parent"])
    assert lineage["data"]["mining_sha256"] == file_sha256(case["new"] / "mining.json")
    assert lineage["replay"] is None


def test_replay_share_mixes_in_the_original_data(case: dict[str, Any]) -> None:
    config = _config(case, "dataset.replay.name=synthetic_fusion", f"dataset.replay.root={case['original']}",
                     "dataset.replay.share=0.6")
    trainer = Trainer(config, output_dir=case["base"] / "replay", device="cpu")
    # 4 new samples are 40 % of the mix: 6 original ones (all of the original split)
    assert len(trainer.train_dataset) == 10 and trainer.replay_samples == 6
    replayed = trainer.train_dataset.datasets[1]
    assert Path(replayed.dataset.root) == case["original"] and replayed.dataset.preprocess == case["preprocess"]
    config = _config(case, "dataset.replay.name=synthetic_fusion", f"dataset.replay.root={case['original']}",
                     "dataset.replay.share=0.2")
    assert Trainer(config, output_dir=case["base"] / "replay2", device="cpu").replay_samples == 1


def test_cli_init_from_and_clear_errors(case: dict[str, Any], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    common = ["train", "--config", str(CONFIG), "--set", f"dataset.root={case['new']}", "--set",
              "dataset.val_split=null", "--set", "val.every_n_epochs=0", "--set", "schedule.epochs=1", "--set",
              "train.batch_size=4", "--set", f"train.crop_size=[{SIZE[0]}, {SIZE[1]}]", "--set",
              "logging.tensorboard=false", "--device", "cpu"]
    assert rxssnet_main([*common, "--init-from", str(case["parent"]), "--output-dir", str(tmp_path / "a")]) == 0
    assert "fine-tuned from" in capsys.readouterr().out
    assert rxssnet_main([*common, "--init-from", str(tmp_path / "nope.safetensors")]) == 2
    assert "model.init_from=" in capsys.readouterr().err
    with pytest.raises(TrainConfigError, match=r"dataset\.replay\.root"):
        _config(case, "dataset.replay.share=0.5")
    with pytest.raises(TrainConfigError, match="keeps it"):
        _config(case, "dataset.preprocess={thermal_range: [0, 100]}")
    model = build_model(ModelConfig(variant="atto", num_classes=3, decoder_dim=16))
    other = save_model(model, tmp_path / "three.safetensors", metadata={
        "preprocess": case["preprocess"].to_dict(), "class_names": ["a", "b", "c"], "palette": PALETTE[:3]})
    with pytest.raises(TrainConfigError, match="keeps the checkpoint's classes"):
        Trainer(_config(case, f"model.init_from={other}"), output_dir=tmp_path / "b", device="cpu")
