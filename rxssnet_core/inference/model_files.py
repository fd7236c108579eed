# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Where a `Segmenter`'s model comes from: its description, the cache of exported files, and building a missing one.

A model is described by `ModelInfo` (config, metadata, weights hash) read from a `.safetensors` checkpoint's
header, an ONNX file's metadata or an engine's `.json` (`artifacts`), so the robot's torch-free runtime never
loads weights it does not run. `ensure_onnx` / `ensure_engine` return an existing file (refusing one exported
from other weights) or export it into the cache (`default_cache_dir`, keyed by `engine_cache_key`); only that
export needs torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

from rxssnet_core.config import ModelConfig
from rxssnet_core.errors import UsageError
from rxssnet_core.inference import artifacts
from rxssnet_core.inference.artifacts import ArtifactError
from rxssnet_core.inference.backends import tensorrt_backend as trt_backend
from rxssnet_core.inference.backends.base import BackendError
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.preprocessing import PreprocessConfig

LOGGER = logging.getLogger(__name__)
# TensorRT engines have a fixed size unless built dynamic; this is the one used when none is given
# (MFNet and most robot cameras are 640x480).
DEFAULT_ENGINE_SIZE = (480, 640)


# ----------------------------------------------------------------------------------------------------------
# The cache of exported files


def default_cache_dir() -> pathlib.Path:
    """Cache of exported ONNX files and TensorRT engines: $RXSSNET_CACHE_DIR, else ~/.cache/rxssnet."""
    if os.environ.get("RXSSNET_CACHE_DIR"):
        return pathlib.Path(os.environ["RXSSNET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "rxssnet"


def parse_size(size: Any, name: str = "input_size") -> tuple[int, int] | None:
    """None, (H, W), [H, W] or "HxW" -> (H, W) of positive ints."""
    if size is None:
        return None
    if isinstance(size, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", size)
        if not match:
            raise UsageError(f"{name}={size!r} must look like '480x640' (height x width)")
        size = (match.group(1), match.group(2))
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{name}={size!r} must be (height, width), e.g. (480, 640)") from error
    if height < 1 or width < 1:
        raise UsageError(f"{name}={size!r} must have positive height and width")
    return height, width


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "unknown"


def engine_cache_key(variant: str, weights_sha256: str, gpu: str, tensorrt_version: str, size: tuple[int, int],
                     precision: str, calibration_dir: Any = None) -> str:
    """File name (no suffix) of a cached engine: everything an engine depends on. An engine runs only with the
    TensorRT version and GPU model that built it; int8 also depends on the calibration images.
    """
    key = (f"rxssnet-{variant}-{weights_sha256[:16]}-{_slug(gpu)}-trt{tensorrt_version}-{size[0]}x{size[1]}-"
           f"{precision}")
    if precision == "int8" and calibration_dir is not None:
        key += "-calib" + hashlib.sha256(str(pathlib.Path(calibration_dir).resolve()).encode()).hexdigest()[:8]
    return key


@dataclass
class ModelInfo:
    """What the Segmenter needs about the model, from a checkpoint, an ONNX file or an engine's .json.

    The torch model itself is loaded only when something needs it (the torch backend, or an export of a
    missing ONNX file / engine): `model()` calls `loader` once.
    """

    config: ModelConfig
    metadata: dict[str, Any]
    weights_sha256: str | None = None
    loader: Any = None
    loaded: Any = None

    @classmethod
    def from_description(cls, description: dict[str, Any], source: str, loader: Any = None) -> ModelInfo:
        if not description.get("model_config"):
            raise ArtifactError(f"{source} carries no RXSSNet model description; pass the checkpoint as well")
        return cls(ModelConfig.from_dict(description["model_config"]),
                   dict(description.get("metadata") or {}), description.get("weights_sha256"), loader)

    def model(self) -> Any:
        if self.loaded is None:
            if self.loader is None:
                raise ArtifactError("this needs the model's weights; pass the checkpoint")
            self.loaded = self.loader()
        return self.loaded

    def weights_hash(self) -> str:
        if self.weights_sha256 is None:
            # torch: rxssnet_core.export needs it; the model is in memory here, so torch is loaded already
            from rxssnet_core.export import weights_sha256

            self.weights_sha256 = weights_sha256(self.model())
        return self.weights_sha256


def load_checkpoint_model(path: pathlib.Path) -> Any:
    """The torch model of a checkpoint, on the CPU (the one loader, `checkpoints.load_model`; imports torch)."""
    return load_model(path, map_location="cpu")


def preprocess_from_metadata(info: ModelInfo) -> PreprocessConfig:
    config = info.config
    data = info.metadata.get("preprocess")
    if not data:
        warnings.warn(
            "the checkpoint has no metadata['preprocess']; assuming thermal X with default settings "
            f"(x_channels={config.x_channels}, channel_order={config.input_order!r}). Save checkpoints with "
            "save_model(..., metadata={'preprocess': PreprocessConfig(...).to_dict(), ...})", stacklevel=3)
        return PreprocessConfig(x_channels=config.x_channels, channel_order=config.input_order)
    preprocess = PreprocessConfig.from_dict(data)
    if preprocess.x_channels != config.x_channels:
        raise ArtifactError(
            f"checkpoint metadata preprocess.x_channels={preprocess.x_channels} disagrees with the model's "
            f"x_channels={config.x_channels}; fix the checkpoint metadata")
    return preprocess


def class_names(info: ModelInfo) -> list[str]:
    count = info.config.num_classes
    names = [str(n) for n in (info.metadata.get("class_names") or [])]
    if names and len(names) != count:
        warnings.warn(f"checkpoint metadata has {len(names)} class names for {count} classes; "
                      "missing names become class_<i>", stacklevel=3)
    return (names + [f"class_{i}" for i in range(len(names), count)])[:count]


def check_engine_precision(engine_path: Any, precision: str) -> None:
    built = (artifacts.engine_description(engine_path) or {}).get("precision")
    if built is not None and built != precision:
        raise ArtifactError(f"engine {str(engine_path)!r} was built for precision={built!r}, "
                            f"not {precision!r}; pass precision={built!r} or another engine_path")


def check_same_weights(info: ModelInfo, description: dict[str, Any] | None, path: Any) -> None:
    """Refuse an exported file whose recorded weights hash is not the checkpoint's."""
    recorded = (description or {}).get("weights_sha256")
    if recorded is not None and recorded != info.weights_hash():
        raise ArtifactError(f"{str(path)!r} was exported from other weights than this checkpoint; delete it "
                         "(it is rebuilt) or pass the matching checkpoint")


def ensure_onnx(info: ModelInfo, onnx_path: Any, cache: pathlib.Path, size: tuple[int, int] | None,
                dynamic: bool | None = None) -> pathlib.Path:
    """`onnx_path` (or the cached file for these weights and size) if it exists, else exported there."""
    dynamic = size is None if dynamic is None else dynamic
    if onnx_path is None:
        tag = "dynamic" if dynamic else f"{size[0]}x{size[1]}"
        name = f"rxssnet-{info.config.variant}-{info.weights_hash()[:16]}-{tag}.onnx"
        onnx_path = cache / "onnx" / name
    path = pathlib.Path(onnx_path)
    if path.is_file():
        check_same_weights(info, artifacts.onnx_description(path), path)
        return path
    # torch: only exporting a missing file needs it (the robot's runtime is torch-free, requirements/core.txt)
    from rxssnet_core import export as export_lib

    height, width = size or DEFAULT_ENGINE_SIZE
    LOGGER.info("exporting ONNX to %s (%s)", path, "dynamic size" if dynamic else f"{height}x{width}")
    return export_lib.export_onnx(info.model(), path, height, width, dynamic=dynamic, metadata=info.metadata)


def ensure_engine(info: ModelInfo, onnx_path: Any, engine_path: Any, cache: pathlib.Path,
                  size: tuple[int, int] | None, precision: str, calibration_dir: Any) -> pathlib.Path:
    """`engine_path` (or the cached engine for these weights, GPU, TensorRT, size and precision) if it exists,
    else built there from an ONNX export (int8: calibrated on `calibration_dir`).
    """
    trt_version = trt_backend.tensorrt_version()  # clear error before any slow work
    trt_backend.check_cuda()
    if precision == "int8" and calibration_dir is None:
        raise BackendError("precision='int8' needs calibration_dir: a folder of RGB/X pairs from the "
                           "robot")
    height, width = size or DEFAULT_ENGINE_SIZE
    if engine_path is None:
        key = engine_cache_key(info.config.variant, info.weights_hash(), trt_backend.gpu_name(), trt_version,
                               (height, width), precision, calibration_dir)
        engine_path = cache / "engines" / f"{key}.engine"
    path = pathlib.Path(engine_path)
    if path.is_file():
        check_same_weights(info, artifacts.engine_description(path), path)
        return path
    # torch: only building a missing engine needs it (the robot's runtime is torch-free, requirements/core.txt)
    from rxssnet_core import export as export_lib

    LOGGER.warning("building a TensorRT %s engine at %dx%d into %s: this takes minutes (once; it is "
                   "cached)", precision, height, width, path)
    onnx_file = pathlib.Path(onnx_path) if onnx_path else path.with_suffix(".onnx")
    export_lib.export_tensorrt(info.model(), path, height, width, dynamic=False, precision=precision,
                               calibration_dir=calibration_dir, onnx_path=onnx_file, metadata=info.metadata)
    if onnx_path is None:  # only intermediates: the engine and its .json are what is kept
        for suffix in (".onnx", ".fp16.onnx", ".int8.onnx"):
            path.with_suffix(suffix).unlink(missing_ok=True)
    return path
