# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Inference backends: torch (eager), onnxruntime, tensorrt and openvino, behind `InferenceBackend`.

Each backend module imports its runtime lazily, so a missing package only matters when that backend is chosen.
"""

from rxssnet_core.inference.backends.base import (
    BACKEND_CHOICES,
    BACKENDS,
    DEVICES,
    PRECISIONS,
    SUPPORTED_PRECISIONS,
    BackendError,
    InferenceBackend,
    check_choice,
)

__all__ = ["BACKENDS", "BACKEND_CHOICES", "DEVICES", "PRECISIONS", "SUPPORTED_PRECISIONS", "BackendError",
           "InferenceBackend", "check_choice"]
