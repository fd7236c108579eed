"""Which nodes of an exported RXSSNet graph must compute in fp32 when the rest of an engine runs in fp16.

A reduced-precision build (a TensorRT fp16 or int8 engine, or an ONNX file converted to fp16) keeps the
reductions over all pixels or tokens in fp32, as the torch model does whatever its input dtype:

- every `LayerNormalization` node (the mean and variance over C; opset >= 17 exports one node per LayerNorm);
- every node in one of the scopes `FP32_SCOPES`, the modules whose sums run over H*W pixels or N tokens:
  `grn` (ConvNeXt V2's GRN: sum of x^2 over H*W), `crm` (CRM: cosine similarity over H*W), `attn` (CGPI's
  MLLA linear attention: sums and the 1 / (q . mean k) normaliser over N tokens, and the RoPE angles of a
  dynamic-size export, up to N rad) and `channel_context` (LAM's softmax(k^T v) over N tokens).

A scope is one segment of the node name the TorchScript exporter writes from the module path, e.g.
`/encoder_rgb/stages.0/blocks.1/mlp/grn/ReduceSum` or `/lam.2/cross_path/channel_context_1/MatMul`; a module
called twice gets `_1`, `_2`, ... (`/crm_3/Div`). TensorRT's ONNX parser names each layer after its node (and,
from TensorRT 10, records the node name in `ILayer.metadata`), so `in_fp32_scope` also tests layer names.
Nodes that only compute shapes (integer outputs) and `Constant` nodes are never listed.
"""

from __future__ import annotations

import os
import re
from typing import Any

from rxssnet_core.inference.backends.base import require_module

FP32_SCOPES = ("grn", "crm", "attn", "channel_context")
FP32_OP_TYPES = ("LayerNormalization",)
_SCOPE_PATTERN = re.compile(r"(?:^|/)(?:" + "|".join(FP32_SCOPES) + r")(?:_\d+)?/")
# ONNX TensorProto element types of floating-point tensors.
_FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def in_fp32_scope(name: str) -> bool:
    """Whether an ONNX node name, a TensorRT layer name or layer metadata lies in one of `FP32_SCOPES`."""
    return bool(_SCOPE_PATTERN.search(name))


def _load(onnx_model: Any) -> Any:
    onnx = require_module("onnx", "onnx")
    if isinstance(onnx_model, (str, os.PathLike)):
        return onnx.load(os.fspath(onnx_model), load_external_data=False)
    if isinstance(onnx_model, onnx.ModelProto):
        return onnx_model
    raise TypeError(f"onnx_model must be an onnx.ModelProto or a path to an .onnx file, got "
                    f"{type(onnx_model).__name__}")


def _float_outputs(model: Any) -> set[str]:
    """Names of the graph's floating-point tensors, from ONNX shape inference (types only, weights untouched)."""
    onnx = require_module("onnx", "onnx")
    # Inference on a copy without initializer payloads: types need no weights, and the copy stays small.
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(model)
    # Only float weights lose their payload: integer tensors (axes, shapes) are values inference reads, and an
    # emptied axes constant leaves a reduction's output untyped.
    for tensor in skeleton.graph.initializer:
        if tensor.data_type in _FLOAT_TYPES:
            tensor.ClearField("raw_data")
            tensor.ClearField("float_data")
    inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=False)
    graph = inferred.graph
    typed = [*graph.value_info, *graph.output, *graph.input]
    return {v.name for v in typed if v.type.tensor_type.elem_type in _FLOAT_TYPES}


def fp32_sensitive_node_names(onnx_model: Any) -> list[str]:
    """Names of the nodes a reduced-precision build must keep in fp32, in graph order.

    onnx_model: an `onnx.ModelProto` or the path of an .onnx file written by `rxssnet_core.export`.
    Every node is listed that is a `LayerNormalization` or lies in one of `FP32_SCOPES` and produces a
    floating-point tensor. The list is what `onnxconverter_common.float16.convert_float_to_float16` takes as
    `node_block_list`; a TensorRT builder sets `layer.precision` and the float output types of the layers
    built from these nodes to fp32 (with `BuilderFlag.OBEY_PRECISION_CONSTRAINTS`).
    """
    model = _load(onnx_model)
    float_tensors = _float_outputs(model)
    names = []
    for node in model.graph.node:
        if node.op_type == "Constant" or not any(output in float_tensors for output in node.output):
            continue
        if node.op_type in FP32_OP_TYPES or in_fp32_scope(node.name):
            if not node.name:
                raise ValueError(f"an fp32-sensitive {node.op_type} node has no name; export the graph with "
                                 "rxssnet_core.export.export_onnx, which names every node")
            names.append(node.name)
    return names
