# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Mixed precision for training (`train.amp`): the autocast dtype and whether fp16's GradScaler is needed.

auto = fp16 on CUDA, off on the CPU; bf16 runs on both without a scaler (its exponent range is fp32's).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from rxssnet_core.training.config import TrainConfigError


def amp_settings(mode: str, device: torch.device) -> tuple[bool, torch.dtype | None, bool]:
    """(autocast enabled, autocast dtype, use GradScaler) for train.amp on this device."""
    if mode == "auto":
        mode = "fp16" if device.type == "cuda" else "off"
    if mode == "off":
        return False, None, False
    if mode == "fp16":
        if device.type != "cuda":
            raise TrainConfigError("train.amp=fp16 needs CUDA (GradScaler); on the CPU use train.amp=bf16 or off")
        return True, torch.float16, True
    return True, torch.bfloat16, False


def make_grad_scaler(enabled: bool) -> Any:
    """Torch's GradScaler (a no-op unless `enabled`: fp16 on CUDA)."""
    try:
        return torch.amp.GradScaler("cuda", enabled=enabled)
    except (AttributeError, TypeError):  # torch < 2.3 spelled it torch.cuda.amp
        return torch.cuda.amp.GradScaler(enabled=enabled)


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """torch.autocast on `device` with `dtype`; a null context when dtype is None (amp off)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
