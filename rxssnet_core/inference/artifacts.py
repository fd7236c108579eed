# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a deployment artefact (checkpoint, ONNX file, TensorRT engine) carries, readable without torch.

The one place for the contract between the exporter and the runtimes:

    inputs   rgb (B, 3, H, W) float32, x (B, C, H, W) float32, normalised (`rxssnet_core.preprocessing`)
    outputs  labels (B, H, W) uint8, or int32 past `MAX_UINT8_CLASSES` classes (argmax inside the graph), and
             confidence (B, H, W) float32 (max softmax probability inside the graph)   -- OUTPUTS_LABELS
             or logits (B, K, H, W) float32, for parity checks and evaluation            -- OUTPUTS_LOGITS

Where the runtime gets class names, palette and preprocessing: from the model description, a JSON object
{"model_config", "metadata", "weights_sha256", ...}. The exporter writes it into the ONNX file's
`metadata_props` (key "rxssnet") and beside an engine (`<engine>.json`), so an ONNX file or an engine alone is
enough; a `.safetensors` checkpoint holds the same in its JSON header. All three are read here with the
standard library (plus onnxruntime or onnx for ONNX files): the robot's runtime path never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import pathlib
import struct
from typing import Any

import numpy as np

from rxssnet_core.errors import RXSSNetError

INPUT_NAMES = ("rgb", "x")
LABELS_OUTPUT = "labels"
CONFIDENCE_OUTPUT = "confidence"
LOGITS_OUTPUT = "logits"
OUTPUTS_LABELS = (LABELS_OUTPUT, CONFIDENCE_OUTPUT)
OUTPUTS_LOGITS = (LOGITS_OUTPUT,)
# `rxssnet export --outputs` / `export_onnx(outputs=...)`: the choice -> the graph's output names.
OUTPUT_SETS = {"labels": OUTPUTS_LABELS, "logits": OUTPUTS_LOGITS}
METADATA_KEY = "rxssnet"
# Labels fit in uint8 up to this many classes (ids 0..254). 255 stays free because datasets use it as the
# "ignore" id, so a prediction PNG read back by the evaluation never turns class 255 into "ignore". Used by the
# exporter (graph output type), the Segmenter, the node's label image encoding and `rxssnet predict`.
MAX_UINT8_CLASSES = 255
SAFETENSORS_FORMAT = "rxssnet"
# Largest safetensors JSON header we read (the format's own limit is 100 MB).
_MAX_HEADER_BYTES = 100 << 20
# safetensors dtype codes -> the torch dtype names `weights_sha256` has always hashed (so hashes made from a
# torch state dict and from the file agree, and caches of earlier versions stay valid).
_SAFETENSORS_TORCH_DTYPES = {
    "F64": "torch.float64", "F32": "torch.float32", "F16": "torch.float16", "BF16": "torch.bfloat16",
    "I64": "torch.int64", "I32": "torch.int32", "I16": "torch.int16", "I8": "torch.int8", "U8": "torch.uint8",
    "BOOL": "torch.bool",
}


class ArtifactError(RXSSNetError, ValueError):
    """A model file cannot be read as an RXSSNet artefact; the message names the file and the fix."""


def label_dtype(num_classes: int) -> np.dtype:
    """uint8 for up to MAX_UINT8_CLASSES classes, uint16 above (mono8 / mono16 label images, PNG both)."""
    return np.dtype(np.uint8) if int(num_classes) <= MAX_UINT8_CLASSES else np.dtype(np.uint16)


# ----------------------------------------------------------------------------------------------------------
# Weights identity


def _hash_tensor(digest: Any, name: str, dtype_name: str, shape: tuple[int, ...], data: Any) -> None:
    digest.update(f"{name}|{dtype_name}|{shape}|".encode())
    digest.update(data)


def state_dict_sha256(state: Any) -> str:
    """sha256 over the names, dtypes, shapes and bytes of every tensor of a torch state dict (order independent).

    Runs only where the caller already holds torch tensors; `safetensors_sha256` gives the same value from
    the file without torch.
    """
    import torch  # callers already hold torch tensors (export, torch backend); not the runtime path

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        data = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        _hash_tensor(digest, name, str(tensor.dtype), tuple(tensor.shape), data)
    return digest.hexdigest()


def _read_safetensors_header(path: pathlib.Path) -> tuple[dict[str, Any], int]:
    """(JSON header, byte offset of the data section) of a .safetensors file."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                raise ArtifactError(f"{path} is not a safetensors file (shorter than 8 bytes)")
            (size,) = struct.unpack("<Q", prefix)
            if size > _MAX_HEADER_BYTES:
                raise ArtifactError(f"{path} is not a safetensors file (header size {size} bytes)")
            header = json.loads(handle.read(size))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path} is not a readable safetensors file: {error}") from error
    if not isinstance(header, dict):
        raise ArtifactError(f"{path} is not a safetensors file (header is not a JSON object)")
    return header, 8 + size


def safetensors_sha256(path: str | pathlib.Path) -> str:
    """`state_dict_sha256` of the tensors stored in a .safetensors file, read with the standard library."""
    path = pathlib.Path(path)
    header, data_start = _read_safetensors_header(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for name in sorted(key for key in header if key != "__metadata__"):
            entry = header[name]
            dtype = _SAFETENSORS_TORCH_DTYPES.get(entry.get("dtype"))
            if dtype is None:
                raise ArtifactError(f"{path}: tensor {name!r} has dtype {entry.get('dtype')!r}, which RXSSNet "
                                    "checkpoints do not use")
            begin, end = (data_start + int(v) for v in entry["data_offsets"])
            _hash_tensor(digest, name, dtype, tuple(int(d) for d in entry["shape"]), data[begin:end])
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------------
# Model descriptions


def checkpoint_description(path: str | pathlib.Path, with_hash: bool = True) -> dict[str, Any] | None:
    """{"model_config", "metadata", "weights_sha256"} of one of our .safetensors checkpoints, without torch.

    None for other formats (`.pt` files need torch to unpickle, even weights only). Raises ArtifactError for
    a safetensors file that is not an RXSSNet checkpoint.
    """
    path = pathlib.Path(path)
    if path.suffix != ".safetensors":
        return None
    header, _ = _read_safetensors_header(path)
    meta = header.get("__metadata__") or {}
    if meta.get("format") != SAFETENSORS_FORMAT:
        raise ArtifactError(f"{path} is a safetensors file but not an RXSSNet checkpoint (no format header)")
    try:
        description = {"model_config": json.loads(meta["model_config"]),
                       "metadata": json.loads(meta.get("metadata", "{}"))}
    except (KeyError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: the RXSSNet header is damaged ({error})") from error
    if with_hash:
        description["weights_sha256"] = safetensors_sha256(path)
    return description


def onnx_description(path: str | pathlib.Path) -> dict[str, Any] | None:
    """The "rxssnet" metadata the exporter stored in an ONNX file, or None for a foreign file.

    Read with onnxruntime when it is installed (the robot's runtime), else with onnx.
    """
    path = str(path)
    try:
        import onnxruntime  # the runtime the robot has; reading metadata needs no graph optimisation

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        value = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    except ImportError:
        import onnx  # the exporter's side, where onnxruntime may be missing

        proto = onnx.load(path, load_external_data=False)
        value = next((entry.value for entry in proto.metadata_props if entry.key == METADATA_KEY), None)
    return json.loads(value) if value else None


def engine_sidecar(engine_path: str | pathlib.Path) -> pathlib.Path:
    """`<engine>.json`: the model description written beside a TensorRT engine."""
    path = pathlib.Path(engine_path)
    return path.with_name(path.name + ".json")


def engine_description(engine_path: str | pathlib.Path) -> dict[str, Any] | None:
    sidecar = engine_sidecar(engine_path)
    return json.loads(sidecar.read_text()) if sidecar.is_file() else None


def output_names(description: dict[str, Any] | None) -> tuple[str, ...]:
    """The outputs an exported file has, from its description (files of older versions had logits only)."""
    return tuple((description or {}).get("outputs") or OUTPUTS_LOGITS)
