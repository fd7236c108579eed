# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Deployment artefacts: the ONNX export, TensorRT engines and the images that calibrate INT8.

ONNX files have inputs `rgb` (B,3,H,W) and `x` (B,C,H,W), float32 and already normalised
(`rxssnet_core.preprocessing`). By default the post-processing is inside the graph: outputs `labels`
(B,H,W) uint8 (int32 past `MAX_UINT8_CLASSES` classes) and `confidence` (B,H,W) float32, so that no
full-size float logits leave the runtime; `outputs="logits"` exports `logits` (B,K,H,W) instead, for parity
checks and evaluation. The tensor contract and the description format live in
`rxssnet_core.inference.artifacts`. The files carry the checkpoint's configuration and metadata in the ONNX
metadata property "rxssnet", so an ONNX file alone is enough for `Segmenter`. TensorRT engines get the same
JSON beside them (`<engine>.json`). The TensorRT build itself is `inference.backends.tensorrt_backend`.
"""

from __future__ import annotations

import inspect
import io
import json
import pathlib
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rxssnet_core.calibration_images import (
    calibration_arrays,
)
from rxssnet_core.inference.artifacts import (
    CONFIDENCE_OUTPUT,
    INPUT_NAMES,
    LABELS_OUTPUT,
    LOGITS_OUTPUT,
    MAX_UINT8_CLASSES,
    METADATA_KEY,
    OUTPUT_SETS,
    engine_sidecar,
    onnx_description,
    state_dict_sha256,
)
from rxssnet_core.inference.backends import tensorrt_backend as trt_backend
from rxssnet_core.inference.backends.base import BackendError, require_module
from rxssnet_core.inference.backends.onnxruntime_backend import OnnxRuntimeBackend
from rxssnet_core.models.cgpi import rope_tables_as_constants
from rxssnet_core.onnx_precision import fp32_sensitive_node_names, plan_fp32_node_names, to_mixed_precision
from rxssnet_core.precision_plan import (
    PLAN_IMAGES,
    PrecisionPlan,
    check_ready,
    module_structure,
    precision_plan_for,
    readiness_report,
)
from rxssnet_core.preprocessing import PreprocessConfig

MIN_OPSET = 17


# ----------------------------------------------------------------------------------------------------------
# Identity of a model


def weights_sha256(model_or_state_dict: Any) -> str:
    """sha256 over the names, dtypes, shapes and bytes of every tensor of a model's state dict (order
    independent); `artifacts.safetensors_sha256` gives the same from a checkpoint file without torch."""
    state = model_or_state_dict.state_dict() if hasattr(model_or_state_dict, "state_dict") \
        else model_or_state_dict
    return state_dict_sha256(state)


def model_description(model: Any, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a deployment artefact records about its model: config, metadata and weights hash."""
    config = getattr(model, "config", None)
    return {
        "model_config": config.to_dict() if config is not None else None,
        "metadata": dict(metadata if metadata is not None else getattr(model, "metadata", None) or {}),
        "weights_sha256": weights_sha256(model),
    }


# ----------------------------------------------------------------------------------------------------------
# ONNX


# Node-name prefixes of LabelHead's operations in the traced graph (the network's own nodes are under /model/).
LABEL_HEAD_PREFIXES = ("/ArgMax", "/Cast", "/ReduceMax", "/Sub", "/Exp", "/ReduceSum", "/Reciprocal")


class LabelHead(nn.Module):
    """The network plus its post-processing, so that the exported graph returns labels and confidence.

    labels: argmax over classes (first maximum, as numpy), cast to uint8 (int32 past MAX_UINT8_CLASSES).
    confidence: max softmax probability = 1 / sum_k exp(l_k - max_k l), computed in float32 whatever the
    network's dtype (a sum of K exponentials of an fp16 engine stays in range).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.label_dtype = torch.uint8 if model.config.num_classes <= MAX_UINT8_CLASSES else torch.int32

    def forward(self, rgb: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(rgb, x).float()
        labels = logits.argmax(dim=1).to(self.label_dtype)
        peak = logits.amax(dim=1, keepdim=True)
        confidence = torch.reciprocal(torch.exp(logits - peak).sum(dim=1))
        return labels, confidence


def _trace_size(height: int, width: int, dynamic: bool) -> tuple[int, int]:
    # The model pads to a multiple of 32 and crops back. A trace only records the branches it runs, so a
    # dynamic export is traced at a size that needs padding: then the pad and crop are in the graph for every
    # size.
    if not dynamic:
        return height, width
    return (height if height % 32 else height + 8), (width if width % 32 else width + 8)


def export_onnx(model: Any, out: str | pathlib.Path, height: int = 480, width: int = 640,
                dynamic: bool = False, opset: int = MIN_OPSET, metadata: dict[str, Any] | None = None,
                check: bool = True, outputs: str = "labels") -> pathlib.Path:
    """Export an RXSSNet to ONNX with the TorchScript exporter (robust for dynamic shapes on torch 2.3..2.14).

    Fixed: batch 1 at height x width. Dynamic: batch, height and width are free (`batch`, `height`, `width`).
    outputs: "labels" (labels + confidence computed in the graph) or "logits".
    `metadata` defaults to `model.metadata`; it is stored with the model config and weights hash.
    """
    onnx = require_module("onnx", "onnx")
    if outputs not in OUTPUT_SETS:
        raise ValueError(f"outputs={outputs!r} is unknown; choose one of {sorted(OUTPUT_SETS)} (--outputs)")
    output_names = OUTPUT_SETS[outputs]
    if opset < MIN_OPSET:
        raise ValueError(f"opset={opset} is too old; RXSSNet needs opset >= {MIN_OPSET} (LayerNormalization)")
    if height < 1 or width < 1:
        raise ValueError(f"export size {height}x{width} must be positive (--height, --width)")
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    description = model_description(model, metadata)
    x_channels = int(getattr(getattr(model, "config", None), "x_channels", 3))
    parameter = next(model.parameters())
    trace_h, trace_w = _trace_size(height, width, dynamic)
    generator = torch.Generator().manual_seed(0)
    rgb = torch.randn(1, 3, trace_h, trace_w, generator=generator)
    x = torch.randn(1, x_channels, trace_h, trace_w, generator=generator)
    rgb, x = (t.to(parameter.device, parameter.dtype) for t in (rgb, x))
    kwargs: dict[str, Any] = {
        "input_names": list(INPUT_NAMES), "output_names": list(output_names), "opset_version": int(opset),
        "do_constant_folding": True,
    }
    if dynamic:
        axes = {0: "batch", 2: "height", 3: "width"}
        kwargs["dynamic_axes"] = {name: axes for name in (*INPUT_NAMES, LOGITS_OUTPUT)}
        kwargs["dynamic_axes"].update({name: {0: "batch", 1: "height", 2: "width"}
                                       for name in (LABELS_OUTPUT, CONFIDENCE_OUTPUT)})
        kwargs["dynamic_axes"] = {name: kwargs["dynamic_axes"][name] for name in (*INPUT_NAMES, *output_names)}
    graph = LabelHead(model) if outputs == "labels" else model
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.9 defaults to the torch.export exporter
    was_training = model.training
    model.eval()
    try:
        # A fixed-size graph holds the RoPE tables as constants: no Range/Cos/Sin for an fp16 engine to compute.
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), \
                rope_tables_as_constants(not dynamic):
            warnings.filterwarnings("ignore", category=DeprecationWarning)  # "legacy TorchScript exporter"
            # The model's shape checks (e.g. LAM's token count) become trace constants; the ONNX Runtime
            # parity check at a second size (`rxssnet export`, tests) proves the dynamic graph right.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            buffer = io.BytesIO()
            torch.onnx.export(graph, (rgb, x), buffer, **kwargs)
    finally:
        model.train(was_training)

    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps({**description, "dynamic": dynamic, "export_size": [height, width],
                              "opset": int(opset), "outputs": list(output_names)})
    if check:
        onnx.checker.check_model(proto)
    partial = out.with_name(out.name + ".partial")
    onnx.save(proto, str(partial))
    partial.replace(out)  # never leave a half-written file where a cache lookup would find it
    return out


def onnx_parity(model: Any, onnx_path: str | pathlib.Path, sizes: Sequence[tuple[int, int]], seed: int = 0
                ) -> list[dict[str, Any]]:
    """Torch vs ONNX Runtime (CPU) on one random input per (H, W): max |difference| of the file's float output
    (logits, or confidence for a labels export) and label agreement."""
    runtime = OnnxRuntimeBackend(onnx_path)
    generator = torch.Generator().manual_seed(seed)
    x_channels = int(getattr(getattr(model, "config", None), "x_channels", 3))
    results = []
    for height, width in sizes:
        rgb = torch.randn(1, 3, height, width, generator=generator)
        x = torch.randn(1, x_channels, height, width, generator=generator)
        with torch.no_grad():
            logits = model.eval().float().cpu()(rgb, x)
            expected_labels, expected_confidence = (t.numpy() for t in LabelHead(model)(rgb, x))
        got = runtime.infer(rgb.numpy(), x.numpy())
        if LOGITS_OUTPUT in got:
            output, labels = LOGITS_OUTPUT, got[LOGITS_OUTPUT].argmax(1)
            difference = np.abs(got[LOGITS_OUTPUT] - logits.numpy())
        else:
            output, labels = CONFIDENCE_OUTPUT, got[LABELS_OUTPUT]
            difference = np.abs(got[CONFIDENCE_OUTPUT] - expected_confidence)
        results.append({"height": height, "width": width, "output": output, "max_abs_diff": float(difference.max()),
                        "argmax_agreement": float((labels == expected_labels).mean())})
    return results


# ----------------------------------------------------------------------------------------------------------
# TensorRT


def _exact_patterns(names: Sequence[str]) -> list[str]:
    # modelopt takes node-name regular expressions (re.match); ours are exact names.
    return [re.escape(name) + "$" for name in names]


def _fp32_node_names(onnx_path: pathlib.Path, model: Any = None, plan: PrecisionPlan | None = None
                     ) -> list[str]:
    """Nodes that must stay fp32 in a reduced-precision engine: the in-graph post-processing, the reductions
    that always run in fp32 (`rxssnet_core.onnx_precision`) and, with a precision plan, its fp32 islands typed
    as the torch fp16 path types them (`onnx_precision.plan_fp32_node_names`)."""
    onnx = require_module("onnx", "onnx")

    proto = onnx.load(str(onnx_path), load_external_data=False)
    head = [node.name for node in proto.graph.node if node.name.startswith(LABEL_HEAD_PREFIXES)]
    if plan is None:
        return sorted(set(fp32_sensitive_node_names(proto)) | set(head))
    tree, param_modules = module_structure(model)
    kept = plan_fp32_node_names(proto, plan.fp32_modules, plan.fp32_outputs, tree, param_modules)
    return sorted(set(kept) | set(head))


def fp16_onnx(model: Any, plan: PrecisionPlan, onnx_path: str | pathlib.Path, out: str | pathlib.Path
              ) -> pathlib.Path:
    """An fp16 copy of an fp32 export of `model`, typed by `plan` exactly as the torch fp16 path runs it: fp16
    everywhere except the plan's fp32 islands, the fp32 reductions and the post-processing; inputs and outputs
    keep float32 (`onnx_precision.to_mixed_precision`); the plan goes into the file's metadata. A plan that
    failed its check (`precision_plan.check_ready`) is refused."""
    check_ready(plan)
    onnx = require_module("onnx", "onnx")

    onnx_path, out = pathlib.Path(onnx_path), pathlib.Path(out)
    proto = to_mixed_precision(onnx.load(str(onnx_path)), _fp32_node_names(onnx_path, model, plan))
    _copy_metadata(onnx_path, proto, precision="fp16", precision_plan=plan.to_dict())
    partial = out.with_name(out.name + ".partial")
    onnx.save(proto, str(partial))
    partial.replace(out)
    return out


def onnx_agreement(model: Any, onnx_path: str | pathlib.Path, arrays: dict[str, np.ndarray]
                   ) -> tuple[float, float]:
    """(share of finite values, share of labels equal to torch fp32's) of an ONNX file run by ONNX Runtime on
    the CPU over calibration `arrays` ({"rgb", "x"}): what an fp16 graph gives against the model it came from.
    Every fp16 value between two nodes is stored in fp16 (`onnx_precision.fp16_values_kept`), as in a TensorRT
    fp16 engine, so an overflow shows as it would on the robot."""
    runtime = OnnxRuntimeBackend(onnx_path, faithful_fp16=True)
    finite, equal = [], []
    try:
        for rgb, x in zip(arrays["rgb"], arrays["x"]):
            got = runtime.infer(rgb[None], x[None])
            with torch.no_grad():
                expected = model.eval()(torch.from_numpy(rgb[None]), torch.from_numpy(x[None])).argmax(1).numpy()
            values = got.get(LOGITS_OUTPUT, got.get(CONFIDENCE_OUTPUT))
            labels = got[LOGITS_OUTPUT].argmax(1) if LOGITS_OUTPUT in got else got[LABELS_OUTPUT]
            finite.append(float(np.isfinite(values).mean()))
            equal.append(float((labels == expected).mean()))
    finally:
        runtime.close()
    return float(np.mean(finite)), float(np.mean(equal))


def int8_qdq_onnx(onnx_path: str | pathlib.Path, out: str | pathlib.Path, calibration: dict[str, np.ndarray],
                  method: str = "entropy", high_precision: str = "fp16",
                  fp32_nodes: Sequence[str] | None = None) -> pathlib.Path:
    """Explicit INT8 quantization: Q/DQ nodes calibrated on `calibration` (NVIDIA ModelOpt ONNX PTQ).

    `fp32_nodes` (default: `_fp32_node_names` without a plan) are not quantized and stay fp32; the rest of the
    graph runs in `high_precision` (fp16 for
    TensorRT; fp32 keeps the file runnable by ONNX Runtime on a CPU). TensorRT builds the result as a strongly
    typed network (TensorRT 10 and 11 alike), with no calibrator.
    """
    require_module("modelopt.onnx.quantization", "modelopt")
    onnx = require_module("onnx", "onnx")
    from modelopt.onnx.quantization import quantize  # optional GPU-deployment dependency

    onnx_path, out = pathlib.Path(onnx_path), pathlib.Path(out)
    quantize(str(onnx_path), quantize_mode="int8", calibration_data=calibration, calibration_method=method,
             calibration_eps=["cpu"],
             nodes_to_exclude=_exact_patterns(fp32_nodes if fp32_nodes is not None else _fp32_node_names(onnx_path)),
             high_precision_dtype=high_precision, output_path=str(out), log_level="WARNING")
    proto = onnx.load(str(out))
    _copy_metadata(onnx_path, proto, precision="int8")
    onnx.save(proto, str(out))
    return out


def _copy_metadata(source: pathlib.Path, proto: Any, precision: str,
                   precision_plan: dict[str, Any] | None = None) -> None:
    """Carry the "rxssnet" description over to a converted file, recording its precision (and fp16 plan)."""
    description = onnx_description(source) or {}
    for entry in list(proto.metadata_props):
        if entry.key == METADATA_KEY:
            proto.metadata_props.remove(entry)
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    extra = {"precision_plan": precision_plan} if precision_plan is not None else {}
    entry.value = json.dumps({**description, "precision": precision, **extra})


def export_tensorrt(model: Any, out: str | pathlib.Path, height: int = 480, width: int = 640,
                    dynamic: bool = False, opset: int = MIN_OPSET, precision: str = "fp16",
                    calibration_dir: str | pathlib.Path | None = None, calibration_images: int | None = None,
                    onnx_path: str | pathlib.Path | None = None, metadata: dict[str, Any] | None = None,
                    max_batch: int = 1, workspace_mb: int | None = None, verbose: bool = False,
                    outputs: str = "labels") -> pathlib.Path:
    """ONNX export, then a TensorRT engine at `out`: fp32, fp16 (typed by a precision plan measured on
    `calibration_dir`, else synthetic scenes: `fp16_onnx`) or int8 (Q/DQ calibrated on `calibration_dir`, the
    plan's fp32 nodes left unquantized), always as a strongly typed network.

    Writes `<out>.json` (model config, metadata, weights hash, TensorRT version, GPU, precision) beside the
    engine. The intermediate ONNX files stay next to `onnx_path` (default `<out>.onnx`, `<out>.fp16.onnx`,
    `<out>.int8.onnx`) for inspection.
    """
    trt = trt_backend.import_tensorrt()  # fail before the slow ONNX export
    trt_backend.check_build_precision(precision)
    trt_backend.check_cuda()
    if precision == "int8":
        require_module("modelopt.onnx", "modelopt")
    out = pathlib.Path(out)
    if precision == "int8" and calibration_dir is None:
        raise BackendError("precision='int8' needs --calibration-dir: a folder of RGB/X pairs from the robot")
    onnx_path = pathlib.Path(onnx_path) if onnx_path else out.with_suffix(".onnx")
    export_onnx(model, onnx_path, height, width, dynamic=dynamic, opset=opset, metadata=metadata,
                outputs=outputs)
    description = onnx_description(onnx_path) or {}
    build_input = onnx_path
    calibrated = 0
    if precision in ("fp16", "int8"):
        plan = precision_plan_for(model, (height, width), calibration_dir, min(calibration_images or PLAN_IMAGES,
                                                                              PLAN_IMAGES))
        print(readiness_report(plan))
        description["precision_plan"] = plan.to_dict()
    if precision == "fp16":
        build_input = fp16_onnx(model, plan, onnx_path, onnx_path.with_suffix(".fp16.onnx"))
    elif precision == "int8":
        preprocess = PreprocessConfig.from_dict(description.get("metadata", {}).get("preprocess") or {})
        calibration = calibration_arrays(calibration_dir, preprocess, (height, width), calibration_images or 64)
        calibrated = len(calibration["rgb"])
        build_input = int8_qdq_onnx(onnx_path, onnx_path.with_suffix(".int8.onnx"), calibration,
                                    fp32_nodes=_fp32_node_names(onnx_path, model, plan))
    trt_backend.build_engine(build_input, out, opt_size=(height, width),
                             min_size=None if dynamic else (height, width),
                             max_size=None if dynamic else (height, width), max_batch=max_batch,
                             workspace_mb=workspace_mb, verbose=verbose)
    description.update({"tensorrt_version": str(trt.__version__), "gpu": trt_backend.gpu_name(),
                        "precision": precision, "calibration_images": calibrated})
    engine_sidecar(out).write_text(json.dumps(description, indent=1))
    return out
