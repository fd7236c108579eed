"""Inference backends: torch (eager), onnxruntime and tensorrt, behind `InferenceBackend`.

Each backend module imports its runtime lazily, so a missing package only matters when that backend is chosen.
"""

from rxssnet_core.inference.backends.base import (
    BACKENDS,
    DEVICES,
    PRECISIONS,
    SUPPORTED_PRECISIONS,
    BackendError,
    InferenceBackend,
    check_choice,
)

__all__ = ["BACKENDS", "DEVICES", "PRECISIONS", "SUPPORTED_PRECISIONS", "BackendError", "InferenceBackend",
           "check_choice"]
