# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning that does not forget: start from a checkpoint, train on new (mined) data mixed with a replay share
of the original data, and record where the new checkpoint came from.

`model.init_from` (`rxssnet train --init-from CKPT`): the network (its ModelConfig and weights), classes, palette
and preprocessing come from the checkpoint; the training data must have the same class names. `dataset.replay`
(`ReplaySection`): a fraction `share` of every epoch's samples comes from the original dataset (a fixed, seeded
draw from its split; its name defaults to the one the checkpoint records), the rest from `dataset.root`. The new
checkpoint's metadata carries `lineage`: the parent's file name and sha256, the training data (root, and the
sha256 of its mining.json when `rxssnet bag mine` wrote it) and the replay settings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from rxssnet_core.config import ModelConfig
from rxssnet_core.data import build_dataset
from rxssnet_core.data.registry import canonical_name
from rxssnet_core.models.checkpoints import load_checkpoint
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_core.training.config import TrainConfig, TrainConfigError

MINING_MANIFEST = "mining.json"


@dataclass
class ParentCheckpoint:
    """The checkpoint a fine-tuning run starts from."""

    path: Path
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    sha256: str

    @property
    def preprocess(self) -> PreprocessConfig:
        data = self.metadata.get("preprocess")
        if not isinstance(data, dict):
            raise TrainConfigError(f"model.init_from {self.path} records no preprocessing in its metadata; "
                                   "fine-tune a checkpoint written by `rxssnet train`")
        return PreprocessConfig.from_dict(data)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_parent(path: str) -> ParentCheckpoint:
    """The checkpoint named by model.init_from; TrainConfigError when it is missing."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise TrainConfigError(f"model.init_from={path!r} does not exist; pass the checkpoint to fine-tune "
                               "(.safetensors or .pt written by `rxssnet train`)")
    config, state_dict, metadata = load_checkpoint(file)
    return ParentCheckpoint(file, config, state_dict, metadata, file_sha256(file))


def check_same_classes(parent: ParentCheckpoint, names: list[str], what: str) -> None:
    """The data must label the checkpoint's classes, in its order."""
    expected = [str(n) for n in parent.metadata.get("class_names") or []]
    if len(names) != parent.config.num_classes or (expected and list(names) != expected):
        raise TrainConfigError(
            f"{what} has classes {list(names)} but model.init_from {parent.path.name} predicts "
            f"{expected or parent.config.num_classes}; fine-tuning keeps the checkpoint's classes: label the data "
            "with them (`rxssnet bag mine` writes a dataset.yaml with them)")


def replay_dataset(config: TrainConfig, preprocess: PreprocessConfig, augment: Any, new_samples: int,
                   parent: ParentCheckpoint | None) -> Dataset | None:
    """The replayed original samples (a seeded draw sized so that they are `share` of the mix), or None."""
    replay = config.dataset.replay
    if replay.share <= 0:
        return None
    root = Path(replay.root).expanduser()
    if not root.is_dir():
        raise TrainConfigError(f"dataset.replay.root {replay.root!r} is not a folder; point it at the original "
                               "training data, or set dataset.replay.share: 0")
    original = build_dataset(canonical_name(replay_name(config, parent)), root, replay.split,
                             preprocess=preprocess, augment=augment)
    if parent is not None:
        check_same_classes(parent, list(original.info.class_names), f"dataset.replay ({replay.name})")
    wanted = max(1, round(new_samples * replay.share / (1.0 - replay.share)))
    rng = np.random.default_rng(config.train.seed)
    indices = sorted(rng.choice(len(original), size=min(wanted, len(original)), replace=False).tolist())
    return Subset(original, indices)


def replay_name(config: TrainConfig, parent: ParentCheckpoint | None) -> str:
    """dataset.replay.name, else the dataset the parent checkpoint was trained on, else dataset.name."""
    recorded = parent.metadata.get("dataset") if parent is not None else None
    return config.dataset.replay.name or (str(recorded) if recorded else config.dataset.name)


def mix(train: Dataset, replay: Dataset | None) -> Dataset:
    return train if replay is None else ConcatDataset([train, replay])


def lineage(config: TrainConfig, parent: ParentCheckpoint | None, root: Path, replay_samples: int) -> dict[str, Any]:
    """What the checkpoint's metadata records about where it came from."""
    manifest = root / MINING_MANIFEST
    replay = config.dataset.replay
    return {
        "parent": None if parent is None else {"file": parent.path.name, "sha256": parent.sha256},
        "data": {"dataset": config.dataset.name, "root": str(root), "split": config.dataset.train_split,
                 "mining_sha256": file_sha256(manifest) if manifest.is_file() else None},
        "replay": None if replay.share <= 0 else {"dataset": replay_name(config, parent),
                                                  "root": replay.root, "split": replay.split,
                                                  "share": replay.share, "samples": replay_samples},
    }
