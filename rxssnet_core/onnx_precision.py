# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
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
from collections.abc import Sequence
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


# ----------------------------------------------------------------------------------------------------------
# A measured precision plan, in graph terms


def _node_module_path(node_name: str, children: dict[str, dict[str, Any]]) -> str:
    """The module path (`cgpi.3.block.attn`) of the module whose forward made an ONNX node.

    Node names are the TorchScript exporter's scope: `/model/cgpi.3/block/attn/MatMul` (a ModuleList entry is
    `name.i`; a Sequential's entries are `seq/seq.i`; a module called again gets `_1`, `_2`, ...). `children`
    maps a module path to its child names (from `module_tree`). The first segment, the exported wrapper's
    attribute holding the network, is skipped when the wrapper is not itself in the tree.
    """
    segments = [s for s in node_name.split("/") if s][:-1]  # the last segment is the operation
    path = ""
    for segment in segments:
        options = [segment, re.sub(r"_\d+$", "", segment)]
        here = children.get(path, {})
        step = None
        for option in options:
            head, _, tail = option.partition(".")
            if option in here:
                step = option
            elif tail and head in here and tail in children.get(_join(path, head), {}):
                step = f"{head}.{tail}"  # ModuleList entry: `cgpi.3`
            elif tail and path.rpartition(".")[2] == head and tail in here:
                step = tail  # Sequential entry under its own scope: `blocks/blocks.1`
            if step is not None:
                break
        if step is None:
            continue  # a wrapper's scope (`/model/...`) or a segment that names no module
        path = _join(path, step)
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def plan_fp32_node_names(onnx_model: Any, fp32_modules: Sequence[str], fp32_outputs: Sequence[str],
                         module_tree: dict[str, dict[str, Any]], param_modules: set[str]) -> list[str]:
    """The nodes of an fp32 export that compute in fp32 under a precision plan.

    They are typed as the torch path types them (`rxssnet_core.precision_plan.half_precision_model`), so that
    the fp16 graph is the torch fp16 model:

    - nodes made by an island module (or inside one) compute in fp32;
    - nodes made by a parameter-holding module compute in its weights' dtype (its inputs are cast on entry);
    - other nodes (additions between submodules, activations) compute in fp32 when one of their inputs is an
      fp32 value still travelling: made in fp32 and not yet handed back to fp16 (an island not in
      `fp32_outputs` hands back at its exit), as torch's type promotion does;
    - plus `fp32_sensitive_node_names` (reductions that always run in fp32).
    `module_tree` maps each module path to its children's names and `param_modules` lists the modules that
    hold parameters (both from the torch model; `precision_plan.module_structure`).
    """
    model = _load(onnx_model)
    float_tensors = _float_outputs(model)
    islands = tuple(fp32_modules)
    handing_back = {root for root in islands if root not in set(fp32_outputs)}

    def island_of(path: str) -> str | None:
        return next((root for root in islands if path == root or path.startswith(root + ".")), None)

    travelling: dict[str, str | None] = {}  # fp32 tensor -> the island that made it (None: promotion)
    chosen = set(fp32_sensitive_node_names(model))
    for node in model.graph.node:
        if node.op_type == "Constant" or not any(output in float_tensors for output in node.output):
            continue
        path = _node_module_path(node.name, module_tree)
        island = island_of(path)
        if island is not None:
            fp32 = True
        elif path in param_modules:
            fp32 = False
        else:
            fp32 = any(name in travelling and travelling[name] not in handing_back for name in node.input)
        if fp32:
            chosen.add(node.name)
            for output in node.output:
                if output in float_tensors:
                    travelling[output] = island
    return [node.name for node in model.graph.node if node.name in chosen]


# Inputs that keep their own type whatever the node computes in (ONNX: Resize's roi and scales are float).
_KEEP_INPUT_TYPE = {"Resize": (1, 2), "Upsample": (1,)}
_FLOAT, _FLOAT16 = 1, 10


def to_mixed_precision(onnx_model: Any, fp32_nodes: Sequence[str]) -> Any:
    """An fp16 copy of an fp32 graph in which `fp32_nodes` compute in fp32 and every value they make stays
    fp32 until an fp16 node reads it (one Cast there), as the torch fp16 path does. (onnxconverter-common's
    converter instead casts each fp32 node's output to fp16 at once, so a large value between two fp32 nodes
    overflows: the failure this exists to avoid.) Weights read by fp16 nodes get fp16 copies; inputs and
    outputs keep float32. The graph should be typed by ONNX shape inference (any `rxssnet_core.export` file).
    """
    onnx = require_module("onnx", "onnx")
    numpy_helper = onnx.numpy_helper
    source = _load(onnx_model)
    model = onnx.ModelProto()
    model.CopyFrom(source)
    graph = model.graph
    keep = set(fp32_nodes)
    floats = _float_outputs(model)
    weights = {t.name: t for t in graph.initializer if t.data_type == _FLOAT}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value" \
                and node.attribute[0].t.data_type == _FLOAT:
            weights[node.output[0]] = node.attribute[0].t
    floats |= set(weights) | {v.name for v in graph.input if v.type.tensor_type.elem_type == _FLOAT}
    made_as: dict[str, int] = {v.name: _FLOAT for v in graph.input}
    converted: dict[tuple[str, int], str] = {}
    nodes: list[Any] = []
    half_weights: list[Any] = []

    def in_type(name: str, wanted: int) -> str:
        if name in weights:
            if wanted == _FLOAT:
                return name
            if (name, wanted) not in converted:
                half = numpy_helper.from_array(numpy_helper.to_array(weights[name]).astype("float16"),
                                               f"{name}__fp16")
                half_weights.append(half)
                converted[(name, wanted)] = half.name
            return converted[(name, wanted)]
        if made_as.get(name, _FLOAT) == wanted:
            return name
        if (name, wanted) not in converted:
            cast_name = f"{name}__{'fp16' if wanted == _FLOAT16 else 'fp32'}"
            nodes.append(onnx.helper.make_node("Cast", [name], [cast_name], to=wanted, name=f"{cast_name}/Cast"))
            converted[(name, wanted)] = cast_name
        return converted[(name, wanted)]

    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] in weights:
            nodes.append(node)  # read through in_type: fp32 as is, an fp16 copy for fp16 nodes
            continue
        wanted = _FLOAT if node.name in keep else _FLOAT16
        fixed = _KEEP_INPUT_TYPE.get(node.op_type, ())
        for index, name in enumerate(node.input):
            if name and name in floats and index not in fixed:
                node.input[index] = in_type(name, wanted)
        if node.op_type == "Cast":
            target = next(a for a in node.attribute if a.name == "to")
            if target.i == _FLOAT:
                target.i = wanted
        nodes.append(node)
        for output in node.output:
            if output in floats:
                made_as[output] = wanted

    for output in graph.output:  # the outputs keep their declared float32
        if output.type.tensor_type.elem_type == _FLOAT and made_as.get(output.name) == _FLOAT16:
            inner = f"{output.name}__fp16"
            for node in nodes:
                node.output[:] = [inner if name == output.name else name for name in node.output]
                node.input[:] = [inner if name == output.name else name for name in node.input]
            nodes.append(onnx.helper.make_node("Cast", [inner], [output.name], to=_FLOAT,
                                               name=f"{output.name}/Cast"))
    read = {name for node in nodes for name in node.input}
    del graph.node[:]
    graph.node.extend(node for node in nodes if node.op_type != "Constant" or node.output[0] in read)
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend([*kept, *half_weights])
    del graph.value_info[:]
    return model


def fp16_values_kept(onnx_model: Any) -> Any:
    """A copy of an fp16 graph in which every fp16 value between two nodes goes through an `Identity`.

    ONNX Runtime's CPU lacks fp16 kernels for most operators: it computes them in fp32 between Casts and then
    drops each Cast(fp32 -> fp16) -> Cast(fp16 -> fp32) pair, so a value past 65504 silently survives where a
    TensorRT fp16 engine overflows. Behind an Identity (which has fp16 kernels) the pair is no longer adjacent:
    every fp16 value is stored in fp16, as on the robot. Run it with graph optimisations off.
    """
    onnx = require_module("onnx", "onnx")
    model = onnx.ModelProto()
    model.CopyFrom(_load(onnx_model))
    skeleton = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    half = {v.name for v in skeleton.graph.value_info if v.type.tensor_type.elem_type == _FLOAT16}
    nodes = []
    for node in model.graph.node:
        nodes.append(node)
        for index, output in enumerate(node.output):
            if output in half:
                node.output[index] = f"{output}__stored"
                nodes.append(onnx.helper.make_node("Identity", [node.output[index]], [output],
                                                   name=f"{output}/fp16"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]
    return model
