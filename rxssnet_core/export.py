"""Deployment artefacts: the ONNX export, TensorRT engines and the images that calibrate INT8.

ONNX files have inputs `rgb` (B,3,H,W) and `x` (B,C,H,W), float32 and already normalised
(`rxssnet_core.preprocessing`), and output `logits` (B,K,H,W). They carry the checkpoint's configuration and
metadata in the ONNX metadata property "rxssnet", so an ONNX file alone is enough for `Segmenter`. TensorRT
engines get the same JSON beside them (`<engine>.json`).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import pathlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rxssnet_core.inference.backends.base import BackendError, require_module
from rxssnet_core.preprocessing import PreprocessConfig

INPUT_NAMES = ("rgb", "x")
OUTPUT_NAME = "logits"
MIN_OPSET = 17
METADATA_KEY = "rxssnet"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Folder names of the generic RGB-X layout (CMX / Sigma / DFormer use RGB + Modal; others name the modality).
RGB_FOLDERS = ("rgb", "vis", "visible", "color", "colour", "image", "images")
X_FOLDERS = ("modal", "x", "thermal", "th", "ir", "infrared", "depth", "hha", "disparity", "polarization",
             "aolp", "dolp", "nir")
# File-name suffixes of pairs stored side by side (the RXSSNet author's `<id>_rgb.png` + `<id>_th.png`).
RGB_SUFFIXES = ("_rgb", "_vis", "_color")
X_SUFFIXES = ("_th", "_x", "_ir", "_thermal", "_depth", "_hha", "_disparity", "_modal", "_aolp", "_dolp")


# ----------------------------------------------------------------------------------------------------------
# Identity of a model


def weights_sha256(model_or_state_dict: Any) -> str:
    """sha256 over the names, dtypes, shapes and bytes of every tensor of a state dict (order independent)."""
    torch = require_module("torch")
    state = model_or_state_dict.state_dict() if hasattr(model_or_state_dict, "state_dict") \
        else model_or_state_dict
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


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


def _trace_size(height: int, width: int, dynamic: bool) -> tuple[int, int]:
    # The model pads to a multiple of 32 and crops back. A trace only records the branches it runs, so a
    # dynamic export is traced at a size that needs padding: then the pad and crop are in the graph for every
    # size.
    if not dynamic:
        return height, width
    return (height if height % 32 else height + 8), (width if width % 32 else width + 8)


def export_onnx(model: Any, out: str | pathlib.Path, height: int = 480, width: int = 640,
                dynamic: bool = False, opset: int = MIN_OPSET, metadata: dict[str, Any] | None = None,
                check: bool = True) -> pathlib.Path:
    """Export an RXSSNet to ONNX with the TorchScript exporter (robust for dynamic shapes on torch 2.3..2.14).

    Fixed: batch 1 at height x width. Dynamic: batch, height and width are free (`batch`, `height`, `width`).
    `metadata` defaults to `model.metadata`; it is stored with the model config and weights hash.
    """
    torch = require_module("torch")
    onnx = require_module("onnx", "onnx")
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
        "input_names": list(INPUT_NAMES), "output_names": [OUTPUT_NAME], "opset_version": int(opset),
        "do_constant_folding": True,
    }
    if dynamic:
        axes = {0: "batch", 2: "height", 3: "width"}
        kwargs["dynamic_axes"] = {name: axes for name in (*INPUT_NAMES, OUTPUT_NAME)}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.9 defaults to the torch.export exporter
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.filterwarnings("ignore", category=DeprecationWarning)  # "legacy TorchScript exporter"
            # The model's shape checks (e.g. LAM's token count) become trace constants; the ONNX Runtime
            # parity check at a second size (`rxssnet export`, tests) proves the dynamic graph right.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            buffer = io.BytesIO()
            torch.onnx.export(model, (rgb, x), buffer, **kwargs)
    finally:
        model.train(was_training)

    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps({**description, "dynamic": dynamic, "export_size": [height, width],
                              "opset": int(opset)})
    if check:
        onnx.checker.check_model(proto)
    partial = out.with_name(out.name + ".partial")
    onnx.save(proto, str(partial))
    partial.replace(out)  # never leave a half-written file where a cache lookup would find it
    return out


def read_onnx_description(path: str | pathlib.Path) -> dict[str, Any] | None:
    """The "rxssnet" metadata stored by `export_onnx`, or None for a foreign ONNX file."""
    onnx = require_module("onnx", "onnx")
    proto = onnx.load(str(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    return None


def onnx_parity(model: Any, onnx_path: str | pathlib.Path, sizes: Sequence[tuple[int, int]], seed: int = 0
                ) -> list[dict[str, float]]:
    """Torch vs ONNX Runtime (CPU) on one random input per (H, W): max |logit difference|, argmax agreement."""
    torch = require_module("torch")
    from rxssnet_core.inference.backends.onnxruntime_backend import OnnxRuntimeBackend

    runtime = OnnxRuntimeBackend(onnx_path)
    generator = torch.Generator().manual_seed(seed)
    x_channels = int(getattr(getattr(model, "config", None), "x_channels", 3))
    results = []
    for height, width in sizes:
        rgb = torch.randn(1, 3, height, width, generator=generator)
        x = torch.randn(1, x_channels, height, width, generator=generator)
        with torch.no_grad():
            expected = model.eval().float().cpu()(rgb, x).numpy()
        got = runtime.infer(rgb.numpy(), x.numpy())
        results.append({"height": height, "width": width, "max_abs_diff": float(np.abs(got - expected).max()),
                        "argmax_agreement": float((got.argmax(1) == expected.argmax(1)).mean())})
    return results


# ----------------------------------------------------------------------------------------------------------
# Calibration images


def _images_in(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    return {str(p.relative_to(folder).with_suffix("")): p for p in sorted(folder.rglob("*"))
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()}


def _split_suffix(stem: str, suffixes: Sequence[str]) -> str | None:
    lowered = stem.lower()
    for suffix in suffixes:
        if lowered.endswith(suffix):
            return stem[: -len(suffix)]
    return None


def find_image_pairs(folder: str | pathlib.Path) -> list[tuple[pathlib.Path, pathlib.Path | None]]:
    """RGB/X image pairs under `folder`, sorted; X is None for 4-channel images holding X in alpha (MFNet).

    Accepted layouts: generic (`RGB/` + `Modal/`, `Thermal/`, `Depth/`, ... paired by relative name), side by
    side (`<id>_rgb.png` + `<id>_th.png`, `_x`, `_ir`, `_depth`, ...), or a folder of RGBA PNGs.
    """
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"calibration folder {str(root)!r} does not exist (--calibration-dir)")
    subfolders = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    rgb_dir = next((subfolders[n] for n in RGB_FOLDERS if n in subfolders), None)
    x_dir = next((subfolders[n] for n in X_FOLDERS if n in subfolders), None)
    if rgb_dir is not None and x_dir is not None:
        rgb_files, x_files = _images_in(rgb_dir), _images_in(x_dir)
        pairs = [(rgb_files[k], x_files[k]) for k in sorted(rgb_files) if k in x_files]
        if pairs:
            return pairs

    files = _images_in(root)
    rgb_by_id = {key: files[name] for name in files if (key := _split_suffix(name, RGB_SUFFIXES)) is not None}
    x_by_id = {key: files[name] for name in files if (key := _split_suffix(name, X_SUFFIXES)) is not None}
    pairs = [(rgb_by_id[k], x_by_id[k]) for k in sorted(rgb_by_id) if k in x_by_id]
    if pairs:
        return pairs

    rgba = [p for p in files.values() if p.suffix.lower() in (".png", ".tif", ".tiff") and _channels(p) == 4]
    if rgba:
        return [(p, None) for p in rgba]
    raise FileNotFoundError(
        f"no RGB/X image pairs found in {str(root)!r}; use a generic layout (RGB/ and Modal/ or Thermal/, "
        "Depth/, ... with matching names), side-by-side files (<id>_rgb.png and <id>_th.png, _x, _ir, "
        "_depth) or 4-channel RGBA PNGs with X in alpha (MFNet)")


def _channels(path: pathlib.Path) -> int:
    cv2 = require_module("cv2", "opencv-python-headless")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return 0 if image is None else (1 if image.ndim == 2 else int(image.shape[2]))


def read_image_pair(rgb_path: pathlib.Path, x_path: pathlib.Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Read one pair as (H, W, 3) uint8 RGB and X as stored (uint8/uint16/float; 3-channel X in RGB order)."""
    cv2 = require_module("cv2", "opencv-python-headless")
    image = cv2.imread(str(rgb_path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"cannot read image {str(rgb_path)!r}")
    if x_path is None:
        if image.ndim != 3 or image.shape[2] != 4:
            raise ValueError(f"{str(rgb_path)!r} has no X image and is not a 4-channel (RGB + X in alpha) "
                             "image")
        return cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB), np.ascontiguousarray(image[:, :, 3])
    if image.ndim == 2:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    else:
        rgb = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
    if rgb.dtype != np.uint8:
        raise ValueError(f"RGB image {str(rgb_path)!r} is {rgb.dtype}; calibration needs 8-bit RGB images")
    x = cv2.imread(str(x_path), cv2.IMREAD_UNCHANGED)
    if x is None:
        raise FileNotFoundError(f"cannot read X image {str(x_path)!r}")
    if x.ndim == 3:
        x = cv2.cvtColor(x[:, :, :3], cv2.COLOR_BGR2RGB)
    return rgb, x


def calibration_batches(pairs: Sequence[tuple[pathlib.Path, pathlib.Path | None]],
                        preprocess: PreprocessConfig, size: tuple[int, int], progress: bool = True
                        ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Network inputs ((1,3,H,W), (1,C,H,W)) float32 at `size`, preprocessed exactly like inference."""
    from tqdm import tqdm

    from rxssnet_core.inference.segmenter import prepare_inputs

    for rgb_path, x_path in tqdm(pairs, desc="INT8 calibration", unit="image", disable=not progress):
        rgb, x = read_image_pair(rgb_path, x_path)
        rgb_chw, x_chw = prepare_inputs(rgb, x, preprocess, size)
        yield rgb_chw[None], x_chw[None]


def select_evenly(items: Sequence[Any], count: int) -> list[Any]:
    """`count` items spread over the whole list (calibration should see every part of a sequence)."""
    if count <= 0 or count >= len(items):
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


# ----------------------------------------------------------------------------------------------------------
# TensorRT


def engine_sidecar(engine_path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(engine_path)
    return path.with_name(path.name + ".json")


def read_engine_description(engine_path: str | pathlib.Path) -> dict[str, Any] | None:
    sidecar = engine_sidecar(engine_path)
    return json.loads(sidecar.read_text()) if sidecar.is_file() else None


def gpu_name() -> str:
    torch = require_module("torch")
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def export_tensorrt(model: Any, out: str | pathlib.Path, height: int = 480, width: int = 640,
                    dynamic: bool = False, opset: int = MIN_OPSET, precision: str = "fp16",
                    calibration_dir: str | pathlib.Path | None = None, calibration_images: int = 64,
                    onnx_path: str | pathlib.Path | None = None, metadata: dict[str, Any] | None = None,
                    max_batch: int = 1, workspace_mb: int | None = None, verbose: bool = False
                    ) -> pathlib.Path:
    """ONNX export, then a TensorRT engine at `out` (fp32 | fp16 | int8 calibrated on `calibration_dir`).

    Writes `<out>.json` (model config, metadata, weights hash, TensorRT version, GPU) beside the engine and,
    for int8, the calibration table `<out>.calib` (reused by later builds).
    """
    from rxssnet_core.inference.backends import tensorrt_backend as trt_backend
    from rxssnet_core.inference.backends.base import check_cuda_available

    trt = trt_backend.import_tensorrt()  # fail before the slow ONNX export
    trt_backend.check_build_precision(precision)
    check_cuda_available()
    out = pathlib.Path(out)
    pairs: list[tuple[pathlib.Path, pathlib.Path | None]] = []
    if precision == "int8":
        if calibration_dir is None:
            raise BackendError("precision='int8' needs --calibration-dir: a folder of RGB/X pairs from the "
                               "robot")
        pairs = select_evenly(find_image_pairs(calibration_dir), calibration_images)
    onnx_path = pathlib.Path(onnx_path) if onnx_path else out.with_suffix(".onnx")
    export_onnx(model, onnx_path, height, width, dynamic=dynamic, opset=opset, metadata=metadata)
    description = read_onnx_description(onnx_path) or {}

    calibrator = None
    if precision == "int8":
        preprocess = PreprocessConfig.from_dict(description.get("metadata", {}).get("preprocess") or {})
        calibrator = trt_backend.make_calibrator(
            lambda: calibration_batches(pairs, preprocess, (height, width)), out.with_suffix(".calib"))
    trt_backend.build_engine(onnx_path, out, precision=precision, opt_size=(height, width),
                             min_size=None if dynamic else (height, width),
                             max_size=None if dynamic else (height, width), max_batch=max_batch,
                             calibrator=calibrator, workspace_mb=workspace_mb, verbose=verbose)
    description.update({"tensorrt_version": str(trt.__version__), "gpu": gpu_name(), "precision": precision,
                        "calibration_images": len(pairs)})
    engine_sidecar(out).write_text(json.dumps(description, indent=1))
    return out
