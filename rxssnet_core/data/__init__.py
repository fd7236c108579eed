# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""RGB-X datasets: the registry, native-layout readers, augmentation and the synthetic fusion generator.

    from rxssnet_core.data import DATASETS, build_dataset, AugmentConfig
    ds = build_dataset("mfnet", "/data/ir_seg_dataset", "train", augment=AugmentConfig())

`build_dataset`, `RGBXDataset` and `RawSample` import torch on first use, so the registry stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from rxssnet_core.data.augmentation import AugmentConfig, augment
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.registry import DATASETS, DatasetInfo, canonical_name, get_info

_LAZY = {
    "build_dataset": "rxssnet_core.data.dataset",
    "RGBXDataset": "rxssnet_core.data.dataset",
    "RawSample": "rxssnet_core.data.dataset",
    "generate_fusion_dataset": "rxssnet_core.data.synthetic",
    "generate_scene": "rxssnet_core.data.synthetic",
}

__all__ = [
    "DATASETS",
    "AugmentConfig",
    "DatasetError",
    "DatasetInfo",
    "RGBXDataset",
    "RawSample",
    "augment",
    "build_dataset",
    "canonical_name",
    "generate_fusion_dataset",
    "generate_scene",
    "get_info",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rxssnet_core.data' has no attribute {name!r}")
