# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Label images to pictures: palette colouring and RGB overlays (numpy and OpenCV)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np


def voc_palette(num_classes: int) -> np.ndarray:
    """The PASCAL-VOC bit-interleaved colour map, (num_classes, 3) uint8: a fallback for unnamed datasets."""
    palette = np.zeros((num_classes, 3), dtype=np.uint8)
    for index in range(num_classes):
        value, red, green, blue = index, 0, 0, 0
        for shift in range(7, -1, -1):
            red |= ((value >> 0) & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (red, green, blue)
    return palette


def as_palette(palette: Sequence[Sequence[int]] | np.ndarray | None, num_classes: int) -> np.ndarray:
    """A (num_classes, 3) uint8 palette; missing entries are filled from the VOC map."""
    full = voc_palette(num_classes)
    if palette is not None:
        given = np.asarray(palette, dtype=np.int64).reshape(-1, 3)[:num_classes]
        full[: len(given)] = np.clip(given, 0, 255).astype(np.uint8)
    return full


def _lookup_table(palette: np.ndarray, size: int, shown_classes: Iterable[int] | None) -> np.ndarray:
    lut = np.zeros((size, 3), dtype=np.uint8)
    count = min(len(palette), size)
    lut[:count] = palette[:count]
    if shown_classes is not None:
        mask = np.zeros(size, dtype=bool)
        for cls in shown_classes:
            if 0 <= int(cls) < size:
                mask[int(cls)] = True
        lut[~mask] = 0
    return lut


def colorize(labels: np.ndarray, palette: np.ndarray, shown_classes: Iterable[int] | None = None) -> np.ndarray:
    """(H, W) integer labels -> (H, W, 3) uint8 RGB. Labels outside the palette, or not shown, are black."""
    if labels.dtype == np.uint8 and labels.ndim == 2:
        # OpenCV's table lookup is about 5x faster than numpy fancy indexing on the node's hot path.
        lut = _lookup_table(palette, 256, shown_classes).reshape(256, 1, 3)
        return cv2.LUT(cv2.merge([labels, labels, labels]), lut)
    lut = _lookup_table(palette, max(len(palette), int(labels.max(initial=0)) + 1), shown_classes)
    return lut[labels.astype(np.int64, copy=False)]


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5,
            shown_classes: Iterable[int] | None = None, colors: np.ndarray | None = None) -> np.ndarray:
    """Blend the coloured labels over an (H, W, 3) uint8 RGB image: (1 - alpha) * rgb + alpha * colour.

    Pixels of classes not in `shown_classes` keep the plain RGB value. `colors`: the output of
    `colorize(labels, palette, shown_classes)` when the caller has it already (the node publishes both).
    """
    alpha = float(np.clip(alpha, 0.0, 1.0))
    if colors is None:
        colors = colorize(labels, palette)
    out = cv2.addWeighted(rgb, 1.0 - alpha, colors, alpha, 0.0)
    if shown_classes is not None:
        shown = np.isin(labels, np.fromiter((int(c) for c in shown_classes), dtype=np.int64))
        out[~shown] = rgb[~shown]
    return out
