"""Label images to pictures: palette colouring and RGB overlays (numpy only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def colorize(labels: np.ndarray, palette: np.ndarray, shown_classes: Iterable[int] | None = None) -> np.ndarray:
    """(H, W) integer labels -> (H, W, 3) uint8 RGB. Labels outside the palette, or not shown, are black."""
    lut = np.zeros((max(len(palette), int(labels.max(initial=0)) + 1), 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    if shown_classes is not None:
        mask = np.zeros(len(lut), dtype=bool)
        for cls in shown_classes:
            if 0 <= int(cls) < len(lut):
                mask[int(cls)] = True
        lut[~mask] = 0
    return lut[labels.astype(np.int64, copy=False)]


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5,
            shown_classes: Iterable[int] | None = None) -> np.ndarray:
    """Blend the coloured labels over an (H, W, 3) uint8 RGB image: (1 - alpha) * rgb + alpha * colour.

    Pixels of classes not in `shown_classes` keep the plain RGB value.
    """
    alpha = float(np.clip(alpha, 0.0, 1.0))
    colors = colorize(labels, palette)
    blended = rgb.astype(np.float32) * (1.0 - alpha) + colors.astype(np.float32) * alpha
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    if shown_classes is not None:
        shown = np.isin(labels, np.fromiter((int(c) for c in shown_classes), dtype=np.int64))
        out[~shown] = rgb[~shown]
    return out
