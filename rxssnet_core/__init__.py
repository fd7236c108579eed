# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""RXSSNet core: the network, its data, training, evaluation, inference and export (no ROS).

Public entry points: `ModelConfig`, `build_model`, `load_model`, `save_model`, `PreprocessConfig`, `Segmenter`.
Imports are lazy so that light users (the CLI's --help, the ROS node's parameter checks) do not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ModelConfig": "rxssnet_core.config",
    "PreprocessConfig": "rxssnet_core.preprocessing",
    "build_model": "rxssnet_core.models.rxssnet",
    "RXSSNet": "rxssnet_core.models.rxssnet",
    "load_model": "rxssnet_core.models.checkpoints",
    "save_model": "rxssnet_core.models.checkpoints",
    "Segmenter": "rxssnet_core.inference.segmenter",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rxssnet_core' has no attribute {name!r}")
