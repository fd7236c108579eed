# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Write predictions: label PNGs (class ids) and coloured overlays, for a dataset split or one RGB-X pair.

Per input stem: `<stem>_label.png` (uint8 ids, uint16 past `MAX_UINT8_CLASSES`), `<stem>_color.png` (palette
colours) and `<stem>_overlay.png` (colours blended over the RGB image with `alpha`).

The reference protocol (one pass at native size) goes through the frame pipeline, so a prediction is what the
node and `rxssnet bag eval` give for the same images, on any backend (`predict_pairs`). The test-time modes
(multiscale, sliding windows) need the torch model's logits and run it directly (`predict_dataset`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rxssnet_core.data.io import read_rgb, read_x
from rxssnet_core.errors import RXSSNetError
from rxssnet_core.evaluation.inference_modes import class_argmax, infer
from rxssnet_core.frame_pipeline import FrameOutput, FramePipeline, FrameWants
from rxssnet_core.inference.artifacts import label_dtype
from rxssnet_core.preprocessing import PreprocessConfig, preprocess_pair
from rxssnet_core.visualization import as_palette, colorize, overlay


class PredictError(RXSSNetError, ValueError):
    """Prediction inputs are unusable; the message names the file or option."""


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = np.ascontiguousarray(array[:, :, ::-1])  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise PredictError(f"could not encode {path}")
    encoded.tofile(str(path))


def save_prediction(out_dir: str | Path, stem: str, labels: np.ndarray, rgb: np.ndarray | None,
                    palette: np.ndarray, num_classes: int, alpha: float = 0.5) -> dict[str, Path]:
    """Write the label, colour and (with `rgb`) overlay PNGs of one prediction; returns their paths."""
    out = Path(out_dir)
    paths = {"label": out / f"{stem}_label.png", "color": out / f"{stem}_color.png"}
    _write_png(paths["label"], labels.astype(label_dtype(num_classes)))
    _write_png(paths["color"], colorize(labels, palette))
    if rgb is not None:
        paths["overlay"] = out / f"{stem}_overlay.png"
        _write_png(paths["overlay"], overlay(rgb, labels, palette, alpha))
    return paths


@torch.no_grad()
def predict_labels(model: nn.Module, rgb: torch.Tensor, x: torch.Tensor, mode: str = "single",
                   **mode_options: Any) -> np.ndarray:
    """(3, H, W) and (C, H, W) normalised tensors -> (H, W) int64 class ids."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logits = infer(model, rgb.unsqueeze(0).to(device), x.unsqueeze(0).to(device), mode=mode, **mode_options)
    finally:
        model.train(was_training)
    return class_argmax(logits)[0].cpu().numpy()


def model_palette(model: nn.Module, fallback: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """(K, 3) uint8 palette from the checkpoint metadata (else `fallback`, else the VOC colours)."""
    num_classes = int(model.config.num_classes)  # type: ignore[union-attr, arg-type]  # nn.Module attributes are typed Tensor | Module
    metadata = getattr(model, "metadata", None) or {}
    return as_palette(metadata.get("palette") or fallback, num_classes)


def predict_dataset(model: nn.Module, dataset: Any, out_dir: str | Path, mode: str = "single", alpha: float = 0.5,
                    palette: np.ndarray | None = None, progress: bool = True,
                    **mode_options: Any) -> list[dict[str, Path]]:
    """Predict every sample of a dataset (from `build_dataset`, no augmentation) and write its PNGs."""
    num_classes = int(model.config.num_classes)  # type: ignore[union-attr, arg-type]  # nn.Module attributes are typed Tensor | Module
    if palette is None:
        palette = model_palette(model, getattr(getattr(dataset, "info", None), "palette", None))
    indices: Any = range(len(dataset))
    if progress:
        indices = tqdm(indices, desc="predict", unit="img", dynamic_ncols=True)
    written = []
    for index in indices:
        sample = dataset[index]
        raw = dataset.read_raw(index)
        labels = predict_labels(model, sample["rgb"], sample["x"], mode=mode, **mode_options)
        rgb = raw.rgb if raw.rgb.shape[:2] == labels.shape else None
        written.append(save_prediction(out_dir, sample["stem"], labels, rgb, palette, num_classes, alpha))
    return written


def read_file_pair(rgb_path: str | Path, x_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One RGB + X file pair as decoded arrays (X registered to RGB, same size), by the datasets' reading rules."""
    rgb = read_rgb(rgb_path, "RGB image (--rgb)")
    x = read_x(x_path, "X image (--x)")
    if rgb.shape[:2] != x.shape[:2]:
        raise PredictError(
            f"--rgb {rgb_path} is {rgb.shape[1]}x{rgb.shape[0]} but --x {x_path} is {x.shape[1]}x{x.shape[0]} "
            "(WxH); X must be registered to the RGB camera at the same size")
    return rgb, x


def save_frame(out_dir: str | Path, stem: str, frame: FrameOutput, num_classes: int) -> dict[str, Path]:
    """Write the label, colour and overlay PNGs of one frame-pipeline output (colours and overlay computed)."""
    out = Path(out_dir)
    paths = {"label": out / f"{stem}_label.png", "color": out / f"{stem}_color.png"}
    _write_png(paths["label"], frame.labels.astype(label_dtype(num_classes), copy=False))
    _write_png(paths["color"], frame.colors)
    if frame.overlay is not None:
        paths["overlay"] = out / f"{stem}_overlay.png"
        _write_png(paths["overlay"], frame.overlay)
    return paths


def predict_pairs(pipeline: FramePipeline, pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
                  out_dir: str | Path, alpha: float = 0.5) -> list[dict[str, Path]]:
    """(stem, RGB (H, W, 3) uint8, X registered to it) -> PNGs through the frame pipeline; returns their paths."""
    wants = FrameWants(colors=True, overlay=True, overlay_alpha=alpha)
    return [save_frame(out_dir, stem, pipeline.run(rgb, x, wants=wants), pipeline.segmenter.num_classes)
            for stem, rgb, x in pairs]


def predict_files(model: nn.Module, rgb_path: str | Path, x_path: str | Path, out_dir: str | Path,
                  preprocess: PreprocessConfig, mode: str, alpha: float = 0.5,
                  palette: np.ndarray | None = None, **mode_options: Any) -> dict[str, Path]:
    """One RGB + X file pair through the torch model in a test-time `mode` (multiscale, sliding); its PNGs."""
    rgb, x = read_file_pair(rgb_path, x_path)
    rgb_chw, x_chw = preprocess_pair(rgb, x, preprocess)
    if palette is None:
        palette = model_palette(model)
    labels = predict_labels(model, torch.from_numpy(rgb_chw), torch.from_numpy(x_chw), mode=mode, **mode_options)
    num_classes = int(model.config.num_classes)  # type: ignore[union-attr, arg-type]  # nn.Module attributes are typed Tensor | Module
    return save_prediction(out_dir, Path(rgb_path).stem, labels, rgb, palette, num_classes, alpha)
