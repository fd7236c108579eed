# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""PyTorch eager backend: CPU or CUDA, fp32 / fp16 / bf16, optional channels_last."""

from __future__ import annotations

import contextlib
import copy as copy_module
from typing import Any

import numpy as np

from rxssnet_core.inference.artifacts import LOGITS_OUTPUT
from rxssnet_core.inference.backends.base import (
    BackendError,
    InferenceBackend,
    check_choice,
    check_cuda_available,
    require_module,
)

# The size a plan is measured at when none is given (the robot's usual network size).
DEFAULT_PLAN_SIZE = (480, 640)


class TorchBackend(InferenceBackend):
    """Runs an `nn.Module` with `torch.inference_mode`.

    fp16 (CUDA only: many CPU kernels lack half precision) runs `precision_plan.half_precision_model`: fp16
    weights except the fp32 islands of a precision plan, `precision_plan` (from an fp16 export's metadata) or
    else one measured at construction on synthetic scenes at 480x640 (`precision_plan_for`); a model the plan
    cannot make agree with fp32 is refused. bf16 uses autocast, which keeps numerically sensitive ops (softmax,
    norms) in fp32, on the CPU and on CUDA (bf16 has fp32's range: no islands needed).
    Logits come back as a float32 tensor on the device ({"logits": ...}), so the argmax runs there too. With
    copy=True the caller's module is left untouched (device, dtype and memory-format changes happen on a copy).
    """

    name = "torch"

    def __init__(self, model: Any, device: str = "cpu", precision: str = "fp32",
                 channels_last: bool = False, copy: bool = False,
                 precision_plan: dict[str, Any] | None = None) -> None:
        torch = require_module("torch")
        check_choice("torch", device, precision)
        if device == "cuda":
            check_cuda_available()
        self.device = device
        self.precision = precision
        self.channels_last = bool(channels_last)
        self._torch = torch
        self._device = torch.device(device)
        changes = self.channels_last or device != "cpu"  # fp16 works on a copy of its own
        if copy and changes:
            model = copy_module.deepcopy(model)
        model = model.eval().to(self._device)
        self.precision_plan: Any = None  # the PrecisionPlan an fp16 model runs (precision_plan module)
        if precision == "fp16":
            model = self._fp16_model(model, precision_plan)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._input_dtype = torch.float16 if precision == "fp16" else torch.float32

    def _fp16_model(self, model: Any, plan_dict: dict[str, Any] | None) -> Any:
        # torch-only module: the torch backend is the one place it is needed
        from rxssnet_core.precision_plan import (
            PrecisionPlan,
            PrecisionPlanError,
            check_ready,
            half_precision_model,
            precision_plan_for,
        )

        try:
            plan = PrecisionPlan.from_dict(plan_dict) if plan_dict is not None else \
                precision_plan_for(model, DEFAULT_PLAN_SIZE, images=4, progress=False)
            check_ready(plan)
        except PrecisionPlanError as error:
            raise BackendError(f"{error} (use precision='fp32' or 'bf16' with this model)") from error
        self.precision_plan = plan
        return half_precision_model(model, self._torch.float16, plan.fp32_modules, plan.fp32_outputs)

    def _to_device(self, array: np.ndarray) -> Any:
        tensor = self._torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        tensor = tensor.to(self._device, dtype=self._input_dtype, non_blocking=True)
        if self.channels_last:
            tensor = tensor.contiguous(memory_format=self._torch.channels_last)
        return tensor

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return self._torch.autocast(device_type=self._device.type, dtype=self._torch.bfloat16)

    def infer(self, rgb: np.ndarray, x: np.ndarray) -> dict[str, Any]:
        torch = self._torch
        with torch.inference_mode(), self._autocast():
            logits = self.model(self._to_device(rgb), self._to_device(x))
        if not isinstance(logits, torch.Tensor) or logits.ndim != 4:
            raise BackendError(
                f"the model returned {type(logits).__name__} {getattr(logits, 'shape', '')}; expected logits "
                "(B, K, H, W): is this an RXSSNet checkpoint?")
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)  # so that timing.inference_ms holds the GPU work
        return {LOGITS_OUTPUT: logits.float()}

    def close(self) -> None:
        self.model = None
