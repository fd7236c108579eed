# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime backend: an exported RXSSNet ONNX file on the CPU or CUDA execution provider.

Needs only numpy and onnxruntime at run time (no torch), which suits small robots. Files exported with the
post-processing in the graph return labels (B, H, W) and confidence (B, H, W); logits exports return
logits (B, K, H, W).
"""

from __future__ import annotations

import pathlib

import numpy as np

from rxssnet_core.inference.artifacts import INPUT_NAMES, OUTPUTS_LABELS, OUTPUTS_LOGITS
from rxssnet_core.inference.backends.base import (
    BackendError,
    InferenceBackend,
    check_choice,
    cpu_threads,
    require_module,
)
from rxssnet_core.onnx_precision import fp16_values_kept


def _static_dim(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRuntimeBackend(InferenceBackend):
    """Runs `onnx_path` (inputs `rgb`, `x`; outputs labels + confidence, or logits) on the CPU or CUDA EP."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | pathlib.Path, device: str = "cpu", precision: str = "fp32",
                 intra_op_threads: int | None = None, faithful_fp16: bool = False) -> None:
        """faithful_fp16: store every fp16 value of an fp16 graph in fp16 between nodes, as a TensorRT engine
        does (`onnx_precision.fp16_values_kept`; slower: for parity checks, not for serving).
        """
        ort = require_module("onnxruntime")
        check_choice("onnxruntime", device, precision)
        path = pathlib.Path(onnx_path)
        if not path.is_file():
            raise BackendError(f"onnx_path={str(path)!r} does not exist; export it with `rxssnet export "
                               "--format onnx` or pass onnx_path=None to export automatically")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(
                    "device='cuda' needs ONNX Runtime's CUDAExecutionProvider, which this onnxruntime lacks "
                    f"(available: {ort.get_available_providers()}); pip install onnxruntime-gpu, or use "
                    "device='cpu'")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = cpu_threads(intra_op_threads)
        if threads:
            options.intra_op_num_threads = threads
        model: str | bytes = str(path)
        if faithful_fp16:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            model = fp16_values_kept(path).SerializeToString()
        try:
            self.session = ort.InferenceSession(model, sess_options=options, providers=providers)
        except Exception as error:  # ORT has its own exception types for unreadable or invalid files
            raise BackendError(f"ONNX Runtime cannot load {str(path)!r}: {error}") from error
        if device == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            # ORT falls back to the CPU silently when the CUDA/cuDNN libraries are missing.
            raise BackendError(
                "ONNX Runtime could not start CUDAExecutionProvider (CUDA or cuDNN libraries missing or of "
                "the wrong version for this onnxruntime-gpu); see the warnings of `import onnxruntime`")
        inputs = {meta.name: meta for meta in self.session.get_inputs()}
        outputs = tuple(meta.name for meta in self.session.get_outputs())
        if set(inputs) != set(INPUT_NAMES) or sorted(outputs) not in (sorted(OUTPUTS_LABELS),
                                                                      sorted(OUTPUTS_LOGITS)):
            raise BackendError(
                f"{str(path)!r} has inputs {sorted(inputs)} and outputs {list(outputs)}; an RXSSNet export has "
                f"inputs {list(INPUT_NAMES)} and outputs {list(OUTPUTS_LABELS)} or {list(OUTPUTS_LOGITS)} "
                "(re-export with `rxssnet export`)")
        self.output_names = outputs
        shape = inputs["rgb"].shape
        height, width = _static_dim(shape[2]), _static_dim(shape[3])
        self.fixed_size = (height, width) if height and width else None
        self.max_batch = _static_dim(shape[0])
        self.path = path
        self.device = device
        self.precision = precision

    def infer(self, rgb: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"rgb": np.ascontiguousarray(rgb, dtype=np.float32),
                 "x": np.ascontiguousarray(x, dtype=np.float32)}
        return dict(zip(self.output_names, self.session.run(list(self.output_names), feeds)))

    def close(self) -> None:
        self.session = None
