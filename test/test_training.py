# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Training: config checks, schedule, atomic checkpoints, bit-exact resume, SIGKILL recovery, CLI errors."""

from __future__ import annotations

import collections
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rxssnet_core.cli import main
from rxssnet_core.training.checkpointing import (
    CheckpointError,
    atomic_torch_save,
    capture_rng_state,
    load_training_checkpoint,
    restore_rng_state,
)
from rxssnet_core.training.config import TrainConfig, TrainConfigError, check_dataset_root, load_train_config
from rxssnet_core.training.schedule import WarmupPolyLR, warmup_poly_factor

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ("mfnet", "pst900", "fmb", "cityscapes", "nyuv2", "zju_rgbp")
# `rxssnet train` in a child process (the CLI imports only the train command's module).
CLI_TRAIN = [sys.executable, "-c", "import sys; from rxssnet_core.cli import main; sys.exit(main(sys.argv[1:]))"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rxssnet_core.data.synthetic import generate_fusion_dataset

    return generate_fusion_dataset(tmp_path_factory.mktemp("synthetic"), counts={"train": 8, "val": 2},
                                   size=(64, 64), seed=3, progress=False)


def tiny_config(root: Path, out: Path, **sections: dict) -> dict:
    """A raw config dict: atto, decoder 32, 64x64 crops, batch 2 (4 steps per epoch on 8 images)."""
    data = {
        "dataset": {"name": "synthetic_fusion", "root": str(root), "val_split": "val"},
        "model": {"variant": "atto", "decoder_dim": 32},
        "optimizer": {"lr": 1e-3},
        "schedule": {"epochs": 2, "warmup_epochs": 1},
        "train": {"batch_size": 2, "crop_size": [64, 64], "scales": [0.75, 1.0, 1.25], "num_workers": 0},
        "checkpoint": {"every_n_steps": 0},
        "logging": {"progress": False, "tensorboard": False},
        "output_dir": str(out),
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


# ------------------------------------------------------------------------------------------------ config


def test_shipped_benchmark_configs_hold_the_recipe() -> None:
    for name in BENCHMARKS:
        path = REPO / "config" / "train" / f"{name}.yaml"
        cfg = load_train_config(path)
        assert cfg.dataset.name == name
        assert (cfg.optimizer.lr, cfg.optimizer.betas, cfg.optimizer.weight_decay) == (6e-5, [0.9, 0.999], 0.01)
        assert (cfg.schedule.epochs, cfg.schedule.warmup_epochs, cfg.schedule.power) == (300, 10, 0.9)
        assert cfg.train.batch_size == 4 and cfg.train.crop_size == [480, 640] and cfg.train.hflip
        assert cfg.train.scales == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
        assert cfg.model.variant == "tiny"
        assert cfg.dataset.val_split != "test" and not cfg.val.unsafe_select_on_test_split
        drop = cfg.train.modality_dropout  # the paper trained without failed cameras
        assert drop.x_rate == 0.0 and drop.rgb_rate == 0.0
        # The root is a placeholder the user must replace: a clear error names the key and the fix.
        with pytest.raises(TrainConfigError, match=r"dataset\.root.*--set dataset\.root="):
            check_dataset_root(cfg, path)


def test_unknown_key_and_bad_type_name_the_key(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "bad.yaml", {"dataset": {"name": "mfnet"}, "train": {"batch_sise": 4}})
    with pytest.raises(TrainConfigError, match=r"unknown key 'train\.batch_sise'.*batch_size"):
        load_train_config(path)
    path = write_yaml(tmp_path / "bad2.yaml", {"dataset": {"name": "mfnet"}, "train": {"batch_size": "four"}})
    with pytest.raises(TrainConfigError, match=r"train\.batch_size='four' must be an integer"):
        load_train_config(path)
    with pytest.raises(TrainConfigError, match=r"unknown key 'optimizer\.learning_rate'"):
        load_train_config(REPO / "config/train/mfnet.yaml", ["optimizer.learning_rate=1"])


def test_overrides_parse_yaml_values() -> None:
    cfg = load_train_config(REPO / "config/train/mfnet.yaml",
                            ["optimizer.lr=1e-3", "train.crop_size=[240,320]", "model.pretrained=null"])
    assert cfg.optimizer.lr == pytest.approx(1e-3) and isinstance(cfg.optimizer.lr, float)
    assert cfg.train.crop_size == [240, 320] and cfg.model.pretrained is None


def test_model_selection_on_test_split_needs_the_scary_flag() -> None:
    base = {"dataset": {"name": "mfnet", "val_split": "test"}}
    with pytest.raises(TrainConfigError, match="inflates"):
        TrainConfig.from_dict(base)
    allowed = TrainConfig.from_dict({**base, "val": {"unsafe_select_on_test_split": True}})
    assert allowed.dataset.val_split == "test"
    with pytest.raises(TrainConfigError, match=r"equals dataset\.train_split"):
        TrainConfig.from_dict({"dataset": {"name": "mfnet", "val_split": "train"}})


# ------------------------------------------------------------------------------------------------ schedule


def test_warmup_then_poly() -> None:
    total, warmup = 100, 10
    assert warmup_poly_factor(0, total, warmup) == pytest.approx(0.1)
    assert warmup_poly_factor(9, total, warmup) == pytest.approx(1.0)
    assert warmup_poly_factor(10, total, warmup) == pytest.approx(0.9**0.9)  # reference: poly on t / T
    assert warmup_poly_factor(55, total, warmup) == pytest.approx(0.45**0.9)
    assert warmup_poly_factor(100, total, warmup) == 0.0
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=6e-5)
    scheduler = WarmupPolyLR(optimizer, total, warmup)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(6e-6)  # the first step already warms up
    for _ in range(20):
        scheduler.step()
    restored = WarmupPolyLR(torch.optim.AdamW([param], lr=6e-5), total, warmup)
    restored.load_state_dict(scheduler.state_dict())
    assert restored.get_last_lr() == pytest.approx(scheduler.get_last_lr())
    assert scheduler.get_last_lr()[0] == pytest.approx(6e-5 * 0.8**0.9)


# ------------------------------------------------------------------------------------------------ checkpoints


def test_failing_write_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    atomic_torch_save({"weights": torch.arange(4)}, path)
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling raises for a lambda
        atomic_torch_save({"weights": torch.zeros(4), "bad": lambda: None}, path)
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.arange(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left behind
    path.write_bytes(path.read_bytes()[:50])  # a truncated file gets a clear error naming it
    with pytest.raises(CheckpointError, match=r"last\.pt"):
        load_training_checkpoint(path)


def test_a_full_disk_is_named_and_the_last_good_checkpoint_kept(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoints" / "last.pt"
    atomic_torch_save({"weights": torch.arange(4)}, path)

    def write_fails(obj, target) -> None:  # what torch.save raises when the disk fills mid-write
        raise RuntimeError("[enforce fail at inline_container.cc:858] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", write_fails)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(2**40, 2**40 - 2**20, 2**20))  # 1 MB left
    with pytest.raises(OSError, match=r"cannot write .*last\.pt: the disk is full \(1 MB free\)\. Free some "
                                      r"space or write to another folder; the previous last\.pt is kept") as info:
        atomic_torch_save({"weights": torch.zeros(4)}, path)
    assert info.value.errno == errno.ENOSPC
    # With space left the writer's own error is not dressed up as a full disk.
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(2**40, 2**39, 2**39))
    with pytest.raises(RuntimeError, match="file write failed"):
        atomic_torch_save({"weights": torch.zeros(4)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.arange(4))
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temp file left behind


def test_rng_state_roundtrip_is_weights_only_safe(tmp_path: Path) -> None:
    import random

    import numpy as np

    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = capture_rng_state()
    atomic_torch_save({"rng": state}, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


# ------------------------------------------------------------------------------------------------ training


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run_exactly(tiny_data: Path, tmp_path: Path) -> None:
    """2 epochs straight == stop after epoch 1, resume, stop mid-epoch 2, resume: same losses, same weights.

    The interrupted chain also loads its data in a worker process: augmentation is seeded per sample, so the
    worker count does not change the numbers either.
    """
    from rxssnet_core import load_model
    from rxssnet_core.training import Trainer

    straight_cfg = TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "straight"))
    straight = Trainer(straight_cfg).fit()
    assert straight.finished and sorted(straight.step_losses) == list(range(1, 9))

    cfg = TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "resumed", train={"num_workers": 1}))
    first = Trainer(cfg).fit(stop_after_steps=4)  # end of epoch 1
    assert not first.finished and first.global_step == 4
    state = torch.load(first.last_checkpoint, weights_only=True)  # everything loads weights-only
    assert state["progress"]["epoch"] == 1 and state["progress"]["step_in_epoch"] == 0
    second = Trainer(cfg, resume="auto").fit(stop_after_steps=6)  # mid-epoch 2
    assert second.global_step == 6
    assert torch.load(second.last_checkpoint, weights_only=True)["progress"]["sample_position"] == 4
    third = Trainer(cfg, resume="auto").fit()
    assert third.finished

    resumed_losses = {**first.step_losses, **second.step_losses, **third.step_losses}
    assert resumed_losses == straight.step_losses  # bit-exact, not approximately
    assert len(set(straight.step_losses.values())) == 8  # the losses do change from step to step
    a = load_model(straight.final_path).state_dict()
    b = load_model(third.final_path).state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)
    # The training checkpoint itself can be evaluated (rxssnet eval/predict accept it).
    from rxssnet_core.evaluation.evaluator import load_eval_model

    c = load_eval_model(third.last_checkpoint).state_dict()
    assert all(torch.equal(a[key], c[key]) for key in a)
    # Best model: chosen on the validation split, exported with the dataset metadata.
    best = load_model(third.best_path)
    assert best.metadata["dataset"] == "synthetic_fusion" and len(best.metadata["class_names"]) == 4
    assert best.metadata["preprocess"]["modality"] == "thermal"
    assert best.metadata["input_size"] == [64, 64]  # the crop: the node's default network size
    assert json.loads((tmp_path / "resumed" / "best.json").read_text())["val_split"] == "val"


@pytest.mark.slow
def test_gradient_accumulation_and_bf16_autocast_run(tiny_data: Path, tmp_path: Path) -> None:
    from rxssnet_core.training import Trainer

    cfg = TrainConfig.from_dict(tiny_config(
        tiny_data, tmp_path / "accum", schedule={"epochs": 1, "warmup_epochs": 0},
        train={"batch_size": 1, "grad_accum_steps": 4, "amp": "bf16"}, val={"every_n_epochs": 0}))
    trainer = Trainer(cfg)
    assert trainer.steps_per_epoch == 2  # 8 images / (1 x 4)
    result = trainer.fit()
    assert result.finished and sorted(result.step_losses) == [1, 2]
    assert result.best_path is None and result.final_path.is_file()


@pytest.mark.gpu
def test_cuda_fp16_autocast_with_grad_scaler(tiny_data: Path, tmp_path: Path) -> None:
    from rxssnet_core.training import Trainer

    cfg = TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "cuda", schedule={"epochs": 1},
                                            checkpoint={"every_n_steps": 2}))
    trainer = Trainer(cfg, device="cuda")
    assert trainer.amp_dtype == torch.float16 and trainer.scaler.is_enabled()
    result = trainer.fit()
    assert result.finished and all(torch.isfinite(torch.tensor(list(result.step_losses.values()))))
    state = load_training_checkpoint(result.last_checkpoint)
    assert state["scaler"]["scale"] > 0 and "cuda" in state["rng"]
    resumed = Trainer(cfg, device="cuda", resume=result.last_checkpoint)
    assert resumed.scaler.get_scale() == trainer.scaler.get_scale()


def _log_steps(log: Path) -> list[int]:
    if not log.is_file():
        return []
    return [json.loads(line)["step"] for line in log.read_text().splitlines() if '"loss"' in line]


@pytest.mark.slow
def test_sigkill_mid_training_then_resume(tiny_data: Path, tmp_path: Path, ros_env: dict) -> None:
    out = tmp_path / "run"
    config = write_yaml(tmp_path / "cfg.yaml", tiny_config(
        tiny_data, out, schedule={"epochs": 4, "warmup_epochs": 1}, checkpoint={"every_n_steps": 2},
        val={"every_n_epochs": 0}, dataset={"val_split": None}))
    command = [*CLI_TRAIN, "train", "--config", str(config)]
    checkpoint, log = out / "checkpoints" / "last.pt", out / "train_log.jsonl"
    process = subprocess.Popen(command, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not checkpoint.is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert checkpoint.is_file(), process.communicate()[0].decode()[-2000:] if process.poll() else "timeout"
        steps_at_checkpoint = max(_log_steps(log))
        while (max(_log_steps(log)) < steps_at_checkpoint + 2 and process.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert process.poll() is None, "training ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    state = load_training_checkpoint(checkpoint)  # intact, weights_only
    saved_step = state["progress"]["global_step"]
    assert saved_step >= 2 and saved_step % 2 == 0
    done = subprocess.run([*command, "--resume"], env=ros_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {checkpoint} at step {saved_step}" in done.stderr
    steps = _log_steps(log)
    assert steps[-1] == 16
    # After the kill, the run went on from the checkpoint's step: every step after it was redone.
    restart = len(steps) - 1 - steps[::-1].index(saved_step + 1)
    assert steps[restart:] == list(range(saved_step + 1, 17))
    assert (out / "final.safetensors").is_file()
    assert not list(checkpoint.parent.glob("*.tmp"))  # a temp file of the killed write is cleaned up


def test_validation_holdout_when_the_dataset_has_no_val_split(tiny_data: Path, tmp_path: Path) -> None:
    from rxssnet_core.training import Trainer

    cfg = TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "h", dataset={"val_split": None,
                                                                                "val_holdout": 0.25}))
    trainer = Trainer(cfg)
    train, val = trainer.train_dataset, trainer.val_dataset
    assert (len(train), len(val)) == (6, 2) and not set(train.indices) & set(val.indices)
    assert train.dataset.augment is not None and val.dataset.augment is None  # no augmentation on validation
    with pytest.raises(TrainConfigError, match="val_holdout"):
        Trainer(TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "h2", dataset={"val_split": None})))


def test_pretrained_encoders_are_loaded(tiny_data: Path, tmp_path: Path) -> None:
    """model.pretrained: an ImageNet ConvNeXt V2 file (here a timm-layout stand-in) fills both encoders."""
    from rxssnet_core import ModelConfig, build_model
    from rxssnet_core.training import Trainer

    torch.manual_seed(123)
    donor = build_model(ModelConfig(variant="atto", num_classes=4, decoder_dim=32)).encoder_rgb
    path = tmp_path / "convnextv2_atto.pt"
    torch.save({"model": donor.state_dict()}, path)
    cfg = TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "pre", model={"pretrained": str(path)}))
    trainer = Trainer(cfg)
    for name in ("encoder_rgb", "encoder_x"):
        loaded = getattr(trainer.raw_model, name).state_dict()
        assert all(torch.equal(loaded[key], value) for key, value in donor.state_dict().items())
    missing = TrainConfig.from_dict(tiny_config(tiny_data, tmp_path / "pre2",
                                                model={"pretrained": str(tmp_path / "absent.pt")}))
    with pytest.raises(TrainConfigError, match=r"model\.pretrained=.*absent\.pt.*does not exist"):
        Trainer(missing)


# ------------------------------------------------------------------------------------------------ CLI errors


def _cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_cli_config_errors_exit_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    tiny_data: Path) -> None:
    bad = write_yaml(tmp_path / "bad.yaml", {"dataset": {"name": "mfnet"}, "optimiser": {}})
    code, err = _cli(["train", "--config", str(bad)], capsys)
    assert code == 2 and "unknown key 'optimiser'" in err
    code, err = _cli(["train", "--config", str(REPO / "config/train/mfnet.yaml")], capsys)
    assert code == 2 and "dataset.root" in err and "placeholder" in err
    code, err = _cli(["train", "--config", str(REPO / "config/train/mfnet.yaml"),
                      "--set", f"dataset.root={tmp_path / 'nowhere'}"], capsys)
    assert code == 2 and "nowhere" in err and "does not exist" in err
    code, err = _cli(["train", "--config", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "missing.yaml" in err
    cfg = write_yaml(tmp_path / "ok.yaml", tiny_config(tiny_data, tmp_path / "o"))
    code, err = _cli(["train", "--config", str(cfg), "--set", "dataset.train_split=nosuchsplit"], capsys)
    assert code == 2 and "nosuchsplit" in err
    code, err = _cli(["train", "--config", str(cfg), "--resume", str(tmp_path / "none.pt")], capsys)
    assert code == 2 and "none.pt" in err


def _broken_copy(source: Path, target: Path, damage: str) -> Path:
    """A 2-image train split with one damaged sample (read at training time, not indexing time)."""
    import shutil

    import numpy as np

    from rxssnet_core.data import io

    shutil.copytree(source, target)
    (target / "splits" / "train.txt").write_text("train_0000\ntrain_0001\n")
    if damage == "corrupt":
        (target / "rgb" / "train_0001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
        return target / "rgb" / "train_0001.png"
    if damage == "label_range":
        label = np.full((64, 64), 9, dtype=np.uint8)
        io.write_label(target / "labels" / "train_0001.png", label)
        return target / "labels" / "train_0001.png"
    if damage == "size":
        io.write_image(target / "x" / "train_0001.png", np.zeros((32, 48), dtype=np.uint8))
        return target / "x" / "train_0001.png"
    if damage == "bit_depth":
        io.write_image(target / "rgb" / "train_0001.png", np.zeros((64, 64, 3), dtype=np.uint16))
        return target / "rgb" / "train_0001.png"
    if damage == "missing":
        (target / "x" / "train_0001.png").unlink()
        return target / "x" / "train_0001.png"
    if damage == "empty":
        (target / "splits" / "train.txt").write_text("# nothing here\n")
        return target / "splits" / "train.txt"
    raise AssertionError(damage)


@pytest.mark.parametrize("damage", ["corrupt", "label_range", "size", "bit_depth", "missing", "empty"])
def test_bad_sample_during_training_names_the_file(damage: str, tiny_data: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    damaged = _broken_copy(tiny_data, tmp_path / "data", damage)
    # With a worker process the error crosses the DataLoader's worker boundary and must still read cleanly.
    workers = 1 if damage == "corrupt" else 0
    cfg = write_yaml(tmp_path / "cfg.yaml", tiny_config(
        tmp_path / "data", tmp_path / "out", train={"num_workers": workers}, val={"every_n_epochs": 0},
        dataset={"val_split": None}))
    code, err = _cli(["train", "--config", str(cfg)], capsys)
    assert code == 2
    # The message names the file (a missing one by its stem and folder, an empty split by its list).
    expected = str(damaged.parent / damaged.stem) if damage == "missing" else str(damaged)
    assert expected in err and "Original Traceback" not in err
