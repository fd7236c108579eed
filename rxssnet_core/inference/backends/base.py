# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What every inference backend provides, and the checks shared by all of them.

A backend runs the network on normalised inputs: `infer(rgb (B,3,H,W) float32, x (B,C,H,W) float32)` returns
the model file's outputs by name (`rxssnet_core.inference.artifacts`): {"labels" (B,H,W), "confidence" (B,H,W)}
when the post-processing is inside the exported graph, or {"logits" (B,K,H,W)} (numpy, or a torch tensor on
the torch backend, which reduces on its device). Preprocessing and the rest of postprocessing live in
`Segmenter`, identical for every backend.

The backend names are defined here once (BACKENDS); every CLI, node parameter and check uses this tuple. A new
backend adds its name, its precisions per device, its runtime module and its install hint below.
"""

from __future__ import annotations

import abc
import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

from rxssnet_core.errors import RXSSNetError

BACKENDS = ("torch", "onnxruntime", "tensorrt", "openvino")
# `auto` is not a backend: Segmenter resolves it to one of BACKENDS (`backends.auto.choose_backend`).
BACKEND_CHOICES = (*BACKENDS, "auto")
# The Python module each backend's runtime is (its absence is reported before a checkpoint is loaded).
RUNTIME_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "tensorrt": "tensorrt", "openvino": "openvino"}
DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")

# Precisions each backend can run, per device.
SUPPORTED_PRECISIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "torch": {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "fp16", "bf16")},
    "onnxruntime": {"cpu": ("fp32",), "cuda": ("fp32",)},
    "tensorrt": {"cuda": ("fp32", "fp16", "int8")},
    "openvino": {"cpu": ("fp32", "bf16", "int8")},  # bf16 where the CPU has AVX512-BF16/AMX (checked on load)
}

INSTALL_HINTS = {
    "torch": "backend 'torch' needs PyTorch: pip install torch (on Jetson use NVIDIA's JetPack wheel)",
    "onnxruntime": (
        "backend 'onnxruntime' needs ONNX Runtime: pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA); "
        "on Jetson use the onnxruntime-gpu wheel built for your JetPack"),
    "tensorrt": (
        "backend 'tensorrt' needs the TensorRT Python package: on Jetson it comes with JetPack "
        "(python3-libnvinfer); elsewhere pip install tensorrt (10.x or 11.x), or pip install -r "
        "requirements/tensorrt.txt"),
    "onnx": "ONNX export needs the onnx package: pip install onnx",
    "modelopt": ("fp16 and int8 TensorRT engines need NVIDIA ModelOpt to prepare the ONNX file: pip install "
                 "-r requirements/tensorrt.txt (nvidia-modelopt[onnx])"),
    "openvino": "backend 'openvino' needs OpenVINO: pip install -r requirements/openvino.txt (openvino, nncf)",
    "nncf": "OpenVINO int8 needs NNCF for the quantization: pip install -r requirements/openvino.txt",
}


class BackendError(RXSSNetError, ValueError):
    """A backend cannot be used as configured; the message names the setting and the fix."""


def require_module(module: str, purpose: str | None = None) -> ModuleType:
    """Import `module` or raise BackendError with the install hint for `purpose` (default: the module)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        hint = INSTALL_HINTS.get(purpose or module, f"pip install {module}")
        raise BackendError(f"{hint} (import {module} failed: {error})") from error


def check_choice(backend: str, device: str, precision: str) -> None:
    """Raise BackendError unless (backend, device, precision) is a combination we can run."""
    if backend not in BACKENDS:
        raise BackendError(f"backend={backend!r} is unknown; choose one of {BACKENDS}")
    if device not in DEVICES:
        raise BackendError(f"device={device!r} is unknown; choose one of {DEVICES}")
    if precision not in PRECISIONS:
        raise BackendError(f"precision={precision!r} is unknown; choose one of {PRECISIONS}")
    per_device = SUPPORTED_PRECISIONS[backend]
    if device not in per_device:
        raise BackendError(
            f"backend={backend!r} runs only on device {sorted(per_device)}, not device={device!r}; "
            "use backend='torch' or backend='onnxruntime' on the CPU")
    if precision not in per_device[device]:
        if precision == "fp16" and device == "cpu":
            fix = "fp16 needs a GPU: use precision='fp32' (or 'bf16' with backend='torch') on the CPU"
        elif precision == "int8":
            fix = ("int8 is quantized on calibration images: use backend='openvino' (CPU) or 'tensorrt' (GPU) "
                   "with calibration_dir")
        else:
            fix = f"supported here: {per_device[device]}"
        raise BackendError(
            f"precision={precision!r} is not supported by backend={backend!r} on device={device!r}; {fix}")


def cpu_threads(requested: int | None = None) -> int | None:
    """Threads a CPU runtime (ONNX Runtime, OpenVINO) may use: `requested`, else OMP_NUM_THREADS where it is set to
    a positive integer, else None (the runtime's own choice: one per physical core).

    OMP_NUM_THREADS is how a machine's cores are shared between processes, and torch follows it; ONNX Runtime and
    OpenVINO ignore it and spin on every core, which starves whatever else runs (two nodes, parallel tests).
    """
    if requested:
        return int(requested)
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return threads if threads > 0 else None


def check_cuda_available() -> None:
    """Raise BackendError when device='cuda' is asked for on a machine where torch sees no GPU."""
    torch = require_module("torch")
    if not torch.cuda.is_available():
        raise BackendError(
            "device='cuda' was requested but torch.cuda.is_available() is False (no GPU, or a CPU-only torch "
            "build); use device='cpu'")


class InferenceBackend(abc.ABC):
    """Runs the network on normalised inputs.

    fixed_size: the (H, W) the backend needs (a fixed-shape ONNX file or engine), or None for any size.
    max_batch: the largest batch one call accepts, or None for any.
    """

    name: str = "base"
    device: str = "cpu"
    precision: str = "fp32"
    fixed_size: tuple[int, int] | None = None
    max_batch: int | None = None

    @abc.abstractmethod
    def infer(self, rgb: np.ndarray, x: np.ndarray) -> dict[str, Any]:
        """(B, 3, H, W) and (B, C, H, W) float32 -> outputs by name: labels + confidence, or logits."""

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The (H, W) an image of `height` x `width` must be resized to before `infer`."""
        return self.fixed_size if self.fixed_size is not None else (height, width)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release sessions, engines and device memory."""

    def __repr__(self) -> str:
        size = "any size" if self.fixed_size is None else f"{self.fixed_size[0]}x{self.fixed_size[1]}"
        return f"{type(self).__name__}(device={self.device!r}, precision={self.precision!r}, {size})"
