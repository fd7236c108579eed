# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""RXSSNet and its parts, one paper term per file.

Lazy (PEP 562): `rxssnet_core.models.checkpoints` reads a checkpoint's description without torch, so importing
the package must not import the torch modules below until one of them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CGPI": "cgpi", "MLLABlock": "cgpi", "RoPELinearAttention": "cgpi", "RotaryEmbedding1d": "cgpi",
    "ConvNeXtV2Encoder": "convnextv2_encoder",
    "CRM": "crm",
    "LAM": "lam", "ChannelEmbed": "lam", "CrossPath": "lam", "LocalEmbed": "lam",
    "PLPD": "plpd",
    "RXSSNet": "rxssnet", "build_model": "rxssnet",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"rxssnet_core.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rxssnet_core.models' has no attribute {name!r}")
