# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`Segmenter`: the one inference API used by the ROS node, the bag evaluation and users' scripts.

    seg = Segmenter.from_checkpoint("model.safetensors", backend="onnxruntime")
    result = seg.segment(rgb, x)            # rgb (H,W,3) uint8 RGB; x (H,W[,C]) uint8/uint16/float32 or None
    result.labels, result.confidence, result.timing

Preprocessing is `rxssnet_core.preprocessing` (the code training uses) with the checkpoint's own settings;
the backend (torch, onnxruntime, tensorrt) only sees normalised arrays. Exported files compute labels and
confidence inside the graph, so no full-size logits come back to numpy.

Torch-free runtime: with backend onnxruntime or tensorrt, an existing ONNX file / engine and a `.safetensors`
checkpoint (or no checkpoint: the file's own description), nothing here imports torch. Class names, palette
and preprocessing come from the model description (`artifacts`): the checkpoint's JSON header, the ONNX
file's metadata or the engine's `.json`. Torch is imported only to export a missing file.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rxssnet_core.errors import UsageError
from rxssnet_core.inference import artifacts
from rxssnet_core.inference.artifacts import CONFIDENCE_OUTPUT, LABELS_OUTPUT, LOGITS_OUTPUT, label_dtype
from rxssnet_core.inference.backends import openvino_backend as ov_backend
from rxssnet_core.inference.backends.auto import resolve_backend
from rxssnet_core.inference.backends.base import RUNTIME_MODULES, InferenceBackend, check_choice, require_module
from rxssnet_core.inference.backends.onnxruntime_backend import OnnxRuntimeBackend
from rxssnet_core.inference.backends.tensorrt_backend import TensorRTBackend
from rxssnet_core.inference.backends.torch_backend import TorchBackend
from rxssnet_core.inference.model_files import (
    DEFAULT_ENGINE_SIZE,
    ModelInfo,
    check_engine_precision,
    class_names,
    default_cache_dir,
    ensure_engine,
    ensure_onnx,
    load_checkpoint_model,
    parse_size,
    preprocess_from_metadata,
)
from rxssnet_core.network_input import TRAINED, content_of, labels_for_image, letterbox, trained_input_size
from rxssnet_core.preprocessing import InputBuffers, PreprocessError, image_size, prepare_inputs
from rxssnet_core.visualization import as_palette

LOGGER = logging.getLogger(__name__)


@dataclass
class SegmentationResult:
    """labels: (H, W) uint8 (uint16 past MAX_UINT8_CLASSES = 255 classes) at the input size. confidence:
    (H, W) float32 max softmax probability, or None. timing: preprocess_ms, inference_ms, postprocess_ms,
    total_ms.
    """

    labels: np.ndarray
    confidence: np.ndarray | None = None
    timing: dict[str, float] = field(default_factory=dict)
    scale: float = 1.0  # labels' size / the image's size (at_network_size: the letterbox scale)


# ----------------------------------------------------------------------------------------------------------
# Pre- and postprocessing shared by every backend


def outputs_to_labels(outputs: dict[str, Any], num_classes: int, with_confidence: bool
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """A backend's outputs -> labels (B, H, W) uint8/uint16 and confidence (B, H, W) float32 (or None).

    Labels and confidence computed inside the graph are used as they come (int32 labels past
    MAX_UINT8_CLASSES become uint16); logits (numpy or torch) are reduced here.
    """
    dtype = label_dtype(num_classes)
    if LABELS_OUTPUT in outputs:
        labels = np.asarray(outputs[LABELS_OUTPUT]).astype(dtype, copy=False)
        return labels, (np.asarray(outputs[CONFIDENCE_OUTPUT], dtype=np.float32) if with_confidence else None)
    logits = outputs[LOGITS_OUTPUT]
    if isinstance(logits, np.ndarray):
        labels = logits.argmax(axis=1).astype(dtype)
        confidence = None
        if with_confidence:
            # max softmax = exp(max - max) / sum(exp(l - max)) = 1 / sum(exp(l - max))
            shifted = logits - logits.max(axis=1, keepdims=True)
            confidence = (1.0 / np.exp(shifted).sum(axis=1)).astype(np.float32)
        return labels, confidence
    # torch: only the torch backend hands back tensors (the robot's runtime is torch-free); reduce them on their
    # device, then copy the small results
    import torch

    best, index = logits.max(dim=1)  # = evaluation.inference_modes.class_argmax, with the best score kept
    index = index.to(torch.uint8) if dtype == np.uint8 else index.to(torch.int32)
    labels = index.cpu().numpy().astype(dtype, copy=False)
    confidence = None
    if with_confidence:
        # max softmax = 1 / sum(exp(l - max)), as for numpy logits above
        confidence = (1.0 / torch.exp(logits.float() - best.float().unsqueeze(1)).sum(dim=1)).cpu().numpy()
        confidence = confidence.astype(np.float32, copy=False)
    return labels, confidence


# ----------------------------------------------------------------------------------------------------------
# The Segmenter


class Segmenter:
    """RGB-X semantic segmentation with one API over the torch, ONNX Runtime and TensorRT backends.

    Build it with `Segmenter.from_checkpoint` (or `from_model` for an in-memory network). `segment` maps an
    RGB image and its registered X image to labels at the input size. `input_size` (H, W) fixes the network
    size, the same on every backend: images are letterboxed into it (`rxssnet_core.network_input`: aspect ratio
    kept, padded bottom/right) and the labels of the image's region resized back (nearest); "trained" is the size
    the checkpoint was trained at (its metadata, else 480x640); None runs at each image's size (fixed-shape ONNX
    files, IRs and engines impose their own size, and one given for another `input_size` is refused).
    """

    def __init__(self, backend: InferenceBackend, info: ModelInfo, input_size: tuple[int, int] | None = None,
                 source: str | None = None) -> None:
        self.backend = backend
        self.model_config = info.config
        self.metadata = info.metadata
        self.preprocess_config = preprocess_from_metadata(info)
        self.num_classes = info.config.num_classes
        self.class_names = class_names(info)
        self.palette = as_palette(info.metadata.get("palette"), self.num_classes)
        self.model_name = f"rxssnet-{info.config.variant}"
        self.input_size = parse_size(input_size)
        self.source = source
        self._per_thread = threading.local()  # each thread's InputBuffers: segment() may run on several threads
        fixed = backend.fixed_size
        if self.input_size is not None and fixed is not None and tuple(fixed) != self.input_size:
            file_size = f"{fixed[0]}x{fixed[1]}"
            wanted = f"{self.input_size[0]}x{self.input_size[1]}"
            raise UsageError(
                f"input_size={wanted} but the {backend.name} model file {getattr(backend, 'path', '')} has a fixed "
                f"size {tuple(fixed)}, built for {file_size}; "
                f"set input_size:={file_size} (the file's size), or leave onnx_path/engine_path empty so that a "
                f"file for {wanted} is built and cached")

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike | None, backend: str = "torch",
                        device: str = "cpu", precision: str = "fp32",
                        onnx_path: str | os.PathLike | None = None,
                        engine_path: str | os.PathLike | None = None, channels_last: bool = False,
                        cache_dir: str | os.PathLike | None = None,
                        calibration_dir: str | os.PathLike | None = None, input_size: Any = None
                        ) -> Segmenter:
        """Load a checkpoint (`.safetensors`, `.pt`) and run it on `backend`.

        onnxruntime: uses `onnx_path` when it exists, else exports there (or into `cache_dir`). tensorrt:
        uses `engine_path` when it exists, else builds it from the ONNX export (cached under a key of weights
        hash, GPU, TensorRT version, size and precision); int8 calibrates on `calibration_dir`. With
        checkpoint=None, an existing ONNX file or engine (with its `.json`) is enough. openvino: converts the
        ONNX export to an IR (int8: NNCF-quantized on `calibration_dir`), cached like the engines; `onnx_path`
        may name an existing IR (`.xml`) or ONNX file. backend="auto" picks the fastest backend installed for
        the device and logs why (`backends.auto`).
        """
        backend, _ = resolve_backend(backend, device, precision)
        check_choice(backend, device, precision)
        size = TRAINED if input_size == TRAINED else parse_size(input_size)
        if checkpoint is None:
            return cls._from_artifact(backend, device, precision, onnx_path, engine_path, size)
        # a missing runtime is reported before the checkpoint is loaded
        require_module(RUNTIME_MODULES[backend], backend)
        path = pathlib.Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist; train one with `rxssnet "
                                    "train` or convert the authors' weights with `rxssnet convert-reference`")
        # .safetensors: config, metadata and weights hash from the header, without torch; .pt needs torch.
        description = None if backend == "torch" else artifacts.checkpoint_description(path)
        if description is None:
            model = load_checkpoint_model(path)
            info = ModelInfo(model.config, dict(getattr(model, "metadata", None) or {}), loaded=model)
        else:
            info = ModelInfo.from_description(description, str(path), lambda: load_checkpoint_model(path))
        return cls._build(info, backend, device, precision, onnx_path, engine_path, channels_last, cache_dir,
                          calibration_dir, size, str(path), owns_model=True)

    @classmethod
    def from_model(cls, model: Any, backend: str = "torch", device: str = "cpu", precision: str = "fp32",
                   onnx_path: str | os.PathLike | None = None, engine_path: str | os.PathLike | None = None,
                   channels_last: bool = False, cache_dir: str | os.PathLike | None = None,
                   calibration_dir: str | os.PathLike | None = None, input_size: Any = None,
                   metadata: dict[str, Any] | None = None, source: str | None = None) -> Segmenter:
        """Wrap an in-memory RXSSNet (`model.config`, `model.metadata`); same options as `from_checkpoint`.

        The module is put in eval mode but otherwise left as it is (fp16, channels_last or CUDA work on a copy).
        """
        backend, _ = resolve_backend(backend, device, precision)
        check_choice(backend, device, precision)
        info = ModelInfo(model.config, dict(metadata if metadata is not None else
                                             getattr(model, "metadata", None) or {}), loaded=model)
        return cls._build(info, backend, device, precision, onnx_path, engine_path, channels_last, cache_dir,
                          calibration_dir, TRAINED if input_size == TRAINED else parse_size(input_size), source,
                          owns_model=False)

    @classmethod
    def _build(cls, info: ModelInfo, backend: str, device: str, precision: str, onnx_path: Any,
               engine_path: Any, channels_last: bool, cache_dir: Any, calibration_dir: Any,
               size: Any, source: str | None, owns_model: bool) -> Segmenter:
        cache = pathlib.Path(cache_dir) if cache_dir else default_cache_dir()
        if size == TRAINED:
            size = trained_input_size(info.metadata)
        if backend == "torch":
            runner: InferenceBackend = TorchBackend(info.model(), device, precision, channels_last,
                                                    copy=not owns_model)
        elif backend == "onnxruntime":
            path = ensure_onnx(info, onnx_path, cache, size)
            runner = OnnxRuntimeBackend(path, device, precision)
        elif backend == "openvino":
            if onnx_path is None or not pathlib.Path(onnx_path).is_file():
                onnx_path = ov_backend.ensure_ir(
                    info.model(), info.config.variant, info.weights_hash,
                    info.metadata, cache, size or DEFAULT_ENGINE_SIZE, precision, calibration_dir)
            runner = ov_backend.OpenVinoBackend(onnx_path, device, precision, cache_dir=cache)
        else:
            path = ensure_engine(info, onnx_path, engine_path, cache, size, precision, calibration_dir)
            check_engine_precision(path, precision)
            runner = TensorRTBackend(path, device, precision)
        return cls(runner, info, size, source)

    @classmethod
    def _from_artifact(cls, backend: str, device: str, precision: str, onnx_path: Any, engine_path: Any,
                       size: Any) -> Segmenter:
        def sized(info: ModelInfo) -> tuple[int, int] | None:
            return trained_input_size(info.metadata) if size == TRAINED else size

        if backend == "onnxruntime" and onnx_path and pathlib.Path(onnx_path).is_file():
            description = artifacts.onnx_description(onnx_path) or {}
            info = ModelInfo.from_description(description, str(onnx_path))
            return cls(OnnxRuntimeBackend(onnx_path, device, precision), info, sized(info), str(onnx_path))
        if backend == "tensorrt" and engine_path and pathlib.Path(engine_path).is_file():
            description = artifacts.engine_description(engine_path)
            if description is None:
                raise FileNotFoundError(f"{str(artifacts.engine_sidecar(engine_path))!r} (written by "
                                        "`rxssnet export`) is missing; pass the checkpoint as well")
            info = ModelInfo.from_description(description, str(engine_path))
            check_engine_precision(engine_path, precision)
            return cls(TensorRTBackend(engine_path, device, precision), info, sized(info), str(engine_path))
        if backend == "openvino" and onnx_path and pathlib.Path(onnx_path).is_file():
            description = ov_backend.read_ir_description(onnx_path) or {}
            info = ModelInfo.from_description(description, str(onnx_path))
            return cls(ov_backend.OpenVinoBackend(onnx_path, device, precision, cache_dir=default_cache_dir()),
                       info, sized(info), str(onnx_path))
        raise UsageError(
            "checkpoint=None needs an existing onnx_path (backend='onnxruntime'; an IR .xml or ONNX file for "
            "backend='openvino') or engine_path (backend='tensorrt'); give the checkpoint file otherwise")

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def precision(self) -> str:
        return self.backend.precision

    @property
    def device(self) -> str:
        return self.backend.device

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The (H, W) the network runs at for an image of `height` x `width`."""
        return self.input_size or self.backend.network_size(height, width)

    # -- inference -------------------------------------------------------------------------------------------

    def segment(self, rgb: np.ndarray, x: np.ndarray | None = None, return_confidence: bool = False,
                at_network_size: bool = False) -> SegmentationResult:
        """Labels (and optionally confidence) for one RGB image (H, W, 3) uint8 and its X image (or None).

        at_network_size: the labels of the image's region in the network input (the image scaled by
        `result.scale`, e.g. 360x640 for 1280x720 at input_size 480x640) instead of the image's size.
        """
        return self.segment_batch([rgb], None if x is None else [x], return_confidence, at_network_size)[0]

    def segment_batch(self, rgbs: list[np.ndarray], xs: list[np.ndarray | None] | None = None,
                      return_confidence: bool = False, at_network_size: bool = False) -> list[SegmentationResult]:
        """`segment` for images of one size in one backend call; timings are per image (batch time / B)."""
        if len(rgbs) == 0:
            raise UsageError("segment_batch got no images")
        xs = list(xs) if xs is not None else [None] * len(rgbs)
        if len(xs) != len(rgbs):
            raise UsageError(f"segment_batch got {len(rgbs)} RGB images but {len(xs)} X images")
        start = time.perf_counter()
        height, width = image_size(rgbs[0])
        for index, rgb in enumerate(rgbs):
            if image_size(rgb) != (height, width):
                raise PreprocessError(
                    f"segment_batch image {index} is {rgb.shape[1]}x{rgb.shape[0]} but image 0 is "
                    f"{width}x{height}; batch images of one size or call segment() per image")
        size = self.network_size(height, width)
        box = letterbox((height, width), size)
        # one frame (the node, bag eval): straight into the reused network inputs; a batch is stacked anyway
        buffers = self._input_buffers() if len(rgbs) == 1 else None
        pairs = [prepare_inputs(rgb, x, self.preprocess_config, size, buffers) for rgb, x in zip(rgbs, xs)]
        if len(pairs) == 1:  # a view, not a copy, for the node's one-frame calls
            rgb_batch, x_batch = pairs[0][0][None], pairs[0][1][None]
        else:
            rgb_batch = np.stack([p[0] for p in pairs])
            x_batch = np.stack([p[1] for p in pairs])
        preprocessed = time.perf_counter()

        step = self.backend.max_batch or len(rgbs)
        outputs = [self.backend.infer(rgb_batch[i:i + step], x_batch[i:i + step])
                   for i in range(0, len(rgbs), step)]
        if box.padded:  # the padding's outputs are never used: no argmax or copy of them (torch or numpy views)
            outputs = [{name: content_of(value, box) for name, value in output.items()} for output in outputs]
        inferred = time.perf_counter()

        results = []
        for output in outputs:
            labels, confidence = outputs_to_labels(output, self.num_classes, return_confidence)
            for j in range(len(labels)):
                conf = None if confidence is None else confidence[j]
                if at_network_size:
                    label = np.ascontiguousarray(content_of(labels[j], box))
                    conf = None if conf is None else np.ascontiguousarray(content_of(conf, box))
                    results.append(SegmentationResult(label, conf, scale=box.scale))
                else:
                    label, conf = labels_for_image(labels[j], box, conf)
                    results.append(SegmentationResult(label, conf))
        done = time.perf_counter()
        count = len(rgbs)
        timing = {"preprocess_ms": (preprocessed - start) * 1e3 / count,
                  "inference_ms": (inferred - preprocessed) * 1e3 / count,
                  "postprocess_ms": (done - inferred) * 1e3 / count,
                  "total_ms": (done - start) * 1e3 / count}
        for result in results:
            result.timing = dict(timing)
        return results

    def _input_buffers(self) -> InputBuffers:
        buffers = getattr(self._per_thread, "buffers", None)
        if buffers is None:
            buffers = self._per_thread.buffers = InputBuffers()
        return buffers

    def warmup(self, height: int = 480, width: int = 640, runs: int = 1) -> None:
        """Run the network `runs` times on a blank image, so that the first real frame is not slow."""
        rgb = np.zeros((height, width, 3), dtype=np.uint8)
        for _ in range(runs):
            self.segment(rgb, None)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Segmenter({self.model_name}, K={self.num_classes}, backend={self.backend_name!r}, "
                f"device={self.device!r}, precision={self.precision!r}, input_size={self.input_size})")
