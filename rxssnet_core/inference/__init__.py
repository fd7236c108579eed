# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""One inference API for the node, the bag evaluation and scripts: `Segmenter` over the backends in
`backends.base.BACKENDS`.

Lazy (PEP 562): importing the backend names (node parameters, launch files, CLIs) loads neither the Segmenter
nor OpenCV; none of it imports torch unless the torch backend (or an export) is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from rxssnet_core.inference.backends.base import BACKENDS, DEVICES, PRECISIONS, BackendError

_LAZY = {"Segmenter": "rxssnet_core.inference.segmenter",
         "SegmentationResult": "rxssnet_core.inference.segmenter"}

__all__ = ["BACKENDS", "DEVICES", "PRECISIONS", "BackendError", "SegmentationResult", "Segmenter"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rxssnet_core.inference' has no attribute {name!r}")
