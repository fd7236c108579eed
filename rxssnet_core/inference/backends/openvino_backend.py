# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""OpenVINO backend: an RXSSNet OpenVINO IR (or ONNX file) on the CPU, in fp32, bf16 or NNCF int8.

    inputs   rgb (1, 3, H, W) float32, x (1, C, H, W) float32, normalised (`rxssnet_core.preprocessing`)
    outputs  what the ONNX export has (`rxssnet_core.inference.artifacts`): labels (1, H, W) uint8 and
             confidence (1, H, W) float32, or logits (1, K, H, W) float32; `infer` returns {name: array}

Files. The ONNX export (`rxssnet_core.export.export_onnx`) is converted to an IR (`.xml` + `.bin`, fp32
weights) that keeps the model description (config, metadata, weights hash) in its rt_info under "rxssnet", so
an IR alone is enough for `Segmenter`. int8 is a second IR, quantized after training by NNCF on the user's
calibration images (`quantize_ir`), preprocessed exactly like inference.

Precision is chosen when the IR is compiled: fp32 sets INFERENCE_PRECISION_HINT=f32 (OpenVINO would otherwise
run bf16 on CPUs with AMX), bf16 needs a CPU that reports BF16 (AVX512-BF16 or AMX), int8 runs the quantized
IR with the remaining ops in f32. Compiled models are cached by OpenVINO itself (CACHE_DIR; its key covers
the model, the device, the compile options and the runtime version), and `ensure_ir` caches IR files under
a key of weights hash, size, precision, OpenVINO version (and calibration folder).
"""

from __future__ import annotations

import gc
import hashlib
import json
import pathlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from rxssnet_core.calibration_images import calibration_batches, find_image_pairs, select_evenly
from rxssnet_core.inference.artifacts import (
    INPUT_NAMES,
    METADATA_KEY,
    OUTPUTS_LABELS,
    OUTPUTS_LOGITS,
    onnx_description,
)
from rxssnet_core.inference.backends.base import (
    BackendError,
    InferenceBackend,
    check_choice,
    cpu_threads,
    require_module,
)
from rxssnet_core.inference.signal_stack import keep_signal_stack
from rxssnet_core.preprocessing import PreprocessConfig

# OpenVINO's INFERENCE_PRECISION_HINT per precision; int8 comes from the IR, the other ops stay f32.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
DEFAULT_CALIBRATION_IMAGES = 64


def import_openvino() -> Any:
    """The openvino module, or BackendError with the install hint."""
    return require_module("openvino")


def openvino_version() -> str:
    """The OpenVINO runtime version, e.g. '2026.4.1' (part of every cache key)."""
    return str(import_openvino().get_version()).split("-")[0]


def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's optimisation capabilities of this CPU, e.g. ('BF16', 'FP32', 'INT8', ...)."""
    core = import_openvino().Core()
    return tuple(str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def bf16_supported() -> bool:
    """Whether OpenVINO runs bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    return "BF16" in cpu_capabilities()


# ----------------------------------------------------------------------------------------------------------
# IR files


def read_ir_description(path: str | pathlib.Path) -> dict[str, Any] | None:
    """The "rxssnet" model description stored in an IR's rt_info (or an ONNX file's metadata), or None."""
    path = pathlib.Path(path)
    if path.suffix.lower() == ".onnx":
        return onnx_description(path)
    model = import_openvino().Core().read_model(str(path))
    if not model.has_rt_info([METADATA_KEY]):
        return None
    return json.loads(model.get_rt_info([METADATA_KEY]).astype(str))


def _save_ir(ov_model: Any, out: pathlib.Path, description: dict[str, Any]) -> pathlib.Path:
    ov = import_openvino()
    ov_model.set_rt_info(json.dumps(description), [METADATA_KEY])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".partial.xml")
    ov.save_model(ov_model, str(partial), compress_to_fp16=False)  # fp32 weights: bf16/f32 chosen at compile
    partial.with_suffix(".bin").replace(out.with_suffix(".bin"))
    partial.replace(out)  # the .xml last: a cache lookup never finds an IR without its weights
    return out


def convert_onnx_to_ir(onnx_path: str | pathlib.Path, out: str | pathlib.Path,
                       extra: dict[str, Any] | None = None) -> pathlib.Path:
    """ONNX export -> fp32 IR at `out` (.xml, weights in .bin beside it), with the ONNX file's description."""
    ov = import_openvino()
    description = read_ir_description(onnx_path) or {}
    description.update(extra or {})
    description["openvino_version"] = openvino_version()
    return _save_ir(ov.convert_model(str(onnx_path)), pathlib.Path(out), description)


def quantize_ir(fp32_ir: str | pathlib.Path, out: str | pathlib.Path,
                batches: Iterable[tuple[np.ndarray, np.ndarray]], subset_size: int) -> pathlib.Path:
    """Post-training int8 quantization (NNCF) of an fp32 IR on calibration inputs ((1,3,H,W), (1,C,H,W)).

    ModelType.TRANSFORMER keeps softmax, normalisations and the linear-attention arithmetic in float (they
    lose most in int8); convolutions and matrix products become int8.
    """
    ov = import_openvino()
    nncf = require_module("nncf")
    model = ov.Core().read_model(str(fp32_ir))
    description = read_ir_description(fp32_ir) or {}
    items = [{"rgb": rgb, "x": x} for rgb, x in batches]
    if not items:
        raise BackendError("int8 quantization got no calibration images (calibration_dir)")
    try:
        quantized = nncf.quantize(model, nncf.Dataset(items), subset_size=min(subset_size, len(items)),
                                  model_type=nncf.ModelType.TRANSFORMER, preset=nncf.QuantizationPreset.MIXED)
    finally:
        gc.collect()  # NNCF's statistics models are compiled and released in its own order
        keep_signal_stack()
    description.update({"precision": "int8", "calibration_images": len(items)})
    return _save_ir(quantized, pathlib.Path(out), description)


def ir_cache_path(cache: pathlib.Path, variant: str, weights_sha256: str, size: tuple[int, int], precision: str,
                  calibration_dir: Any = None) -> pathlib.Path:
    """Where `ensure_ir` keeps the IR: keyed by weights, size, stored precision, OpenVINO version, calibration."""
    stored = "int8" if precision == "int8" else "fp32"  # bf16 is a compile option of the fp32 IR
    key = f"rxssnet-{variant}-{weights_sha256[:16]}-{size[0]}x{size[1]}-{stored}-ov{openvino_version()}"
    if precision == "int8":
        key += "-calib" + hashlib.sha256(str(pathlib.Path(calibration_dir).resolve()).encode()).hexdigest()[:8]
    return cache / "openvino" / f"{key}.xml"


def export_openvino(model: Any, out: str | pathlib.Path, height: int = 480, width: int = 640,
                    precision: str = "fp32", calibration_dir: str | pathlib.Path | None = None,
                    calibration_images: int = DEFAULT_CALIBRATION_IMAGES, metadata: dict[str, Any] | None = None,
                    outputs: str = "labels", progress: bool = True) -> pathlib.Path:
    """ONNX export at height x width, then an OpenVINO IR at `out` (fp32; int8 quantized on calibration_dir).

    outputs: "labels" (labels and confidence computed in the graph) or "logits", as `export_onnx`.

    bf16 needs no file of its own: the fp32 IR runs in bf16 when compiled so (`OpenVinoBackend`).
    """
    from rxssnet_core import export as export_lib  # torch and onnx: only for building files, not to run them

    import_openvino()  # fail before the slow ONNX export
    if precision not in PRECISION_HINTS:
        raise BackendError(f"precision={precision!r} is not an OpenVINO precision; choose one of "
                           f"{tuple(PRECISION_HINTS)}")
    pairs: list[Any] = []
    if precision == "int8":
        require_module("nncf")
        if calibration_dir is None:
            raise BackendError("precision='int8' needs calibration_dir (--calibration-dir): a folder of RGB/X "
                               "pairs from the robot")
        pairs = select_evenly(find_image_pairs(calibration_dir), calibration_images)
    out = pathlib.Path(out)
    onnx_file = out.with_name(out.stem + ".export.onnx")
    export_lib.export_onnx(model, onnx_file, height, width, dynamic=False, metadata=metadata, outputs=outputs)
    try:
        if precision != "int8":
            return convert_onnx_to_ir(onnx_file, out, {"precision": "fp32"})
        fp32_ir = convert_onnx_to_ir(onnx_file, out.with_name(out.stem + ".fp32.xml"), {"precision": "fp32"})
        preprocess = PreprocessConfig.from_dict(
            (read_ir_description(fp32_ir) or {}).get("metadata", {}).get("preprocess") or {})
        batches = calibration_batches(pairs, preprocess, (height, width), progress=progress)
        try:
            return quantize_ir(fp32_ir, out, batches, len(pairs))
        finally:
            fp32_ir.unlink(missing_ok=True)
            fp32_ir.with_suffix(".bin").unlink(missing_ok=True)
    finally:
        onnx_file.unlink(missing_ok=True)  # only an intermediate


def ensure_ir(model: Any, variant: str, weights_sha256: Callable[[], str], metadata: dict[str, Any],
              cache: pathlib.Path, size: tuple[int, int], precision: str, calibration_dir: Any) -> pathlib.Path:
    """The cached IR for (weights, size, precision, OpenVINO version), built on first use (`Segmenter`)."""
    if precision == "int8" and calibration_dir is None:
        raise BackendError("precision='int8' needs calibration_dir: a folder of RGB/X pairs from the robot "
                           "(NNCF quantizes on them)")
    sha = weights_sha256()
    path = ir_cache_path(cache, variant, sha, size, precision, calibration_dir)
    if path.is_file() and path.with_suffix(".bin").is_file():
        recorded = (read_ir_description(path) or {}).get("weights_sha256")
        if recorded in (None, sha):
            return path
    return export_openvino(model, path, size[0], size[1], precision=precision, calibration_dir=calibration_dir,
                           metadata=metadata)


# ----------------------------------------------------------------------------------------------------------
# The backend


class OpenVinoBackend(InferenceBackend):
    """Runs an RXSSNet IR (`.xml`) or ONNX file with OpenVINO on the CPU.

    num_threads: INFERENCE_NUM_THREADS (None: OMP_NUM_THREADS where set, else OpenVINO's choice, one per
    physical core; `base.cpu_threads`). cache_dir: where
    OpenVINO caches compiled models (None: no cache).
    """

    name = "openvino"

    def __init__(self, model_path: str | pathlib.Path, device: str = "cpu", precision: str = "fp32",
                 num_threads: int | None = None, cache_dir: str | pathlib.Path | None = None) -> None:
        ov = import_openvino()
        check_choice("openvino", device, precision)
        path = pathlib.Path(model_path)
        if not path.is_file():
            raise BackendError(f"OpenVINO model {str(path)!r} does not exist; export it with `rxssnet export "
                               "--format openvino` or pass the checkpoint to build it")
        if precision == "bf16" and not bf16_supported():
            raise BackendError("precision='bf16' is not supported by OpenVINO on this CPU (it needs AVX512-BF16 "
                               "or AMX); use precision='fp32' or 'int8'")
        description = read_ir_description(path) or {}
        stored = description.get("precision", "fp32")
        if (precision == "int8") != (stored == "int8"):
            raise BackendError(f"{str(path)!r} holds a {stored} model, not what precision={precision!r} needs; "
                               "int8 needs an NNCF-quantized IR (`rxssnet export --format openvino --precision "
                               "int8 --calibration-dir ...`), fp32 and bf16 the fp32 IR")
        core = ov.Core()
        if cache_dir is not None:
            compiled = pathlib.Path(cache_dir) / "openvino" / "compiled"
            compiled.mkdir(parents=True, exist_ok=True)
            core.set_property({"CACHE_DIR": str(compiled)})
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
                                  "PERFORMANCE_HINT": "LATENCY"}
        threads = cpu_threads(num_threads)
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            ov_model = core.read_model(str(path))
            # a port can carry several tensor names (the ONNX name and the names of fused nodes)
            inputs = {name for port in ov_model.inputs for name in port.get_names() if name in INPUT_NAMES}
            outputs = tuple(name for port in ov_model.outputs for name in port.get_names()
                            if name in (*OUTPUTS_LABELS, *OUTPUTS_LOGITS))
            if inputs != set(INPUT_NAMES) or set(outputs) not in (set(OUTPUTS_LABELS), set(OUTPUTS_LOGITS)):
                raise BackendError(
                    f"{str(path)!r} has inputs {sorted(inputs)} and outputs {list(outputs)}; an RXSSNet export "
                    f"has inputs {list(INPUT_NAMES)} and outputs {list(OUTPUTS_LABELS)} or "
                    f"{list(OUTPUTS_LOGITS)} (re-export with `rxssnet export`)")
            shape = ov_model.input("rgb").get_partial_shape()
            self.compiled = core.compile_model(ov_model, "CPU", config)
            keep_signal_stack()  # the plugin swapped this thread's signal stack (see signal_stack.py)
        except BackendError:
            raise
        except Exception as error:  # OpenVINO raises RuntimeError subclasses for unreadable or invalid files
            raise BackendError(f"OpenVINO cannot load {str(path)!r}: {error}") from error
        self.request = self.compiled.create_infer_request()
        if shape.is_static:
            self.fixed_size = (int(shape[2].get_length()), int(shape[3].get_length()))
            self.max_batch = int(shape[0].get_length())
        self.output_names = outputs
        self.path = path
        self.device = device
        self.precision = precision
        self.description = description

    def infer(self, rgb: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        """{output name: array} for (B, 3, H, W) and (B, C, H, W) float32 inputs."""
        results = self.request.infer({"rgb": np.ascontiguousarray(rgb, dtype=np.float32),
                                      "x": np.ascontiguousarray(x, dtype=np.float32)})
        # copies: the request reuses its output buffers on the next call
        return {name: np.array(results[self.compiled.output(name)], copy=True) for name in self.output_names}

    def close(self) -> None:
        had_model = getattr(self, "compiled", None) is not None
        self.request = self.compiled = None
        if had_model:
            keep_signal_stack()  # releasing it put back the stack found at compile time, maybe freed since

    def __del__(self) -> None:
        self.close()
