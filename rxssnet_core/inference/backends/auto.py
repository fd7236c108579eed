# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`backend="auto"`: the fastest backend that is installed and accurate on this machine, and why.

Measured order (docs/benchmarks.md, `rxssnet bench`): on a GPU TensorRT beats torch; on an x86 CPU OpenVINO
beats torch eager and ONNX Runtime at equal precision (fp32 ~0.7x torch's time; bf16 on AMX ~0.4x); elsewhere
(ARM CPUs, Jetson without TensorRT) torch eager. The precision is the caller's: auto never lowers it, and it
only picks a backend that can run it here (OpenVINO bf16 needs AVX512-BF16 or AMX).
"""

from __future__ import annotations

import importlib.util
import logging
import platform

from rxssnet_core.inference.backends.openvino_backend import bf16_supported

LOGGER = logging.getLogger(__name__)
X86_MACHINES = ("x86_64", "amd64", "i686", "i386")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def choose_backend(device: str, precision: str) -> tuple[str, str]:
    """(backend, reason) for `device` ('cpu' | 'cuda') and `precision`; never imports a heavy runtime
    except OpenVINO to ask the CPU whether it runs bf16.
    """
    if device == "cuda":
        if precision in ("fp32", "fp16", "int8") and _installed("tensorrt"):
            return "tensorrt", f"device=cuda, TensorRT is installed and builds {precision} engines"
        missing = "TensorRT is not installed" if not _installed("tensorrt") else \
            f"TensorRT does not run {precision}"
        return "torch", f"device=cuda but {missing}: torch eager on the GPU"
    machine = platform.machine().lower()
    if machine not in X86_MACHINES:
        return "torch", f"CPU {machine}: OpenVINO's CPU plugin targets x86, torch eager it is"
    if not _installed("openvino"):
        return "torch", ("x86 CPU but OpenVINO is not installed (pip install -r requirements/openvino.txt would "
                         "make it faster): torch eager")
    if precision == "bf16" and not bf16_supported():
        return "torch", ("precision=bf16 but this CPU has no native bf16 (AVX512-BF16/AMX), so OpenVINO "
                         "refuses it: torch eager with bf16 autocast (slow; prefer fp32 here)")
    if precision == "int8" and not _installed("nncf"):
        return "torch", "precision=int8 on the CPU needs OpenVINO with NNCF (pip install nncf)"
    return "openvino", f"x86 CPU with OpenVINO installed: the fastest CPU backend for {precision}"


def resolve_backend(backend: str, device: str, precision: str) -> tuple[str, str | None]:
    """`backend` itself, or for 'auto' the chosen one (logged with its reason); returns (backend, reason)."""
    if backend != "auto":
        return backend, None
    chosen, reason = choose_backend(device, precision)
    LOGGER.info("backend auto -> %s: %s", chosen, reason)
    return chosen, reason
