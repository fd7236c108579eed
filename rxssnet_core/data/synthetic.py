"""Synthetic RGB-thermal scenes that only a fusion model can fully segment (CI's fusion proof and the demo).

Classes (see `registry.SYNTHETIC_CLASSES`):
  0 background      textured in RGB (colour varies per scene) and in thermal (gradient + blotches)
  1 painted_marker  a saturated magenta paint mark: visible ONLY in RGB (same temperature as the background)
  2 warm_person     a warm body painted like the background: visible ONLY in thermal (RGB is the background)
  3 vehicle         blue and warm: visible in both
Shapes are discs and rectangles of varied size and position, so a small CNN learns them in CPU minutes. An
RGB-only model cannot find warm_person and a thermal-only model cannot find painted_marker.

Domains (`DOMAINS`, the data-engine benchmark's domain shift): "day" is the scenes above; "night" is the same
scenes seen by an RGB camera whose contrast collapses (`to_night`: gain 0.08-0.14, a blue cast, sensor noise),
thermal unchanged: a model trained on day scenes loses the painted marker at night.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.registry import SYNTHETIC_CLASSES, SYNTHETIC_PALETTE

BACKGROUND, PAINTED_MARKER, WARM_PERSON, VEHICLE = range(4)
DEFAULT_COUNTS = {"train": 40, "val": 8, "test": 12}
# Per-class (RGB visible, thermal visible): what the generator guarantees and the tests check.
VISIBILITY = {PAINTED_MARKER: (True, False), WARM_PERSON: (False, True), VEHICLE: (True, True)}
DOMAINS = ("day", "night")


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int],
                  channels: int = 1) -> np.ndarray:
    """(H, W, channels) float32 low-frequency noise in [-1, 1]: a coarse random grid, upsampled (bicubic)."""

    grid = rng.uniform(-1.0, 1.0, size=(cells[0], cells[1], channels)).astype(np.float32)
    smooth = cv2.resize(grid, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth.reshape(size[0], size[1], channels), -1.0, 1.0)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Float RGB (H, W, 3) and thermal (H, W) backgrounds, textured so neither is constant."""
    height, width = size
    base = rng.uniform((70, 85, 55), (135, 145, 115))  # greyish greens and browns, never saturated
    rgb = base + 22.0 * _smooth_noise(rng, size, (4, 5)) + 6.0 * _smooth_noise(rng, size, (12, 16), 3)
    rgb += rng.normal(0.0, 5.0, size=(height, width, 3))
    level = rng.uniform(65.0, 105.0)
    gradient = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None] * rng.uniform(-10.0, 10.0)
    thermal = level + gradient + 9.0 * _smooth_noise(rng, size, (4, 5))[:, :, 0]
    thermal += rng.normal(0.0, 3.0, size=size)
    return rgb.astype(np.float32), thermal.astype(np.float32)


def _shape_mask(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A disc or an axis-aligned rectangle of random size and position, (H, W) bool."""
    height, width = size
    short = min(height, width)
    rows, cols = np.mgrid[0:height, 0:width]
    if rng.random() < 0.5:
        radius = rng.uniform(0.07, 0.18) * short
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        return (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
    box_h, box_w = rng.uniform(0.12, 0.4) * short, rng.uniform(0.12, 0.4) * short
    top = rng.uniform(-0.2 * box_h, height - 0.8 * box_h)
    left = rng.uniform(-0.2 * box_w, width - 0.8 * box_w)
    return (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)


def to_night(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The night look of a day RGB image (H, W, 3) uint8: low gain, a blue cast, an offset and sensor noise."""
    gain = rng.uniform(0.08, 0.14) * np.array([0.85, 0.95, 1.15], dtype=np.float32)
    dark = rgb.astype(np.float32) * gain + 6.0 + rng.normal(0.0, 2.0, size=rgb.shape)
    return np.clip(dark + 0.5, 0, 255).astype(np.uint8)


def generate_scene(rng: np.random.Generator, size: tuple[int, int] = (96, 128), domain: str = "day"
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: (rgb (H, W, 3) uint8 RGB order, thermal (H, W) uint8, label (H, W) uint8 class ids 0..3).

    domain: "day" or "night" (`to_night` applied to RGB). Deterministic given the generator's state. Each object
    class appears 0-2 times (at least one object per scene); later objects occlude earlier ones, in label and in
    both images.
    """
    if domain not in DOMAINS:
        raise DatasetError(f"synthetic domain {domain!r} is unknown; choose one of {', '.join(DOMAINS)}")
    height, width = (int(v) for v in size)
    if height < 8 or width < 8:
        raise DatasetError(f"synthetic scene size {size} is too small; use at least (8, 8)")
    size = (height, width)
    bg_rgb, bg_thermal = _background(rng, size)
    rgb, thermal = bg_rgb.copy(), bg_thermal.copy()
    label = np.zeros(size, dtype=np.uint8)
    objects = [cls for cls in (PAINTED_MARKER, WARM_PERSON, VEHICLE) for _ in range(int(rng.integers(0, 3)))]
    if not objects:
        objects = [int(rng.choice([PAINTED_MARKER, WARM_PERSON, VEHICLE]))]
    rng.shuffle(objects)
    texture = rng.normal(0.0, 6.0, size=(height, width, 3))
    for cls in objects:
        mask = _shape_mask(rng, size)
        if not mask.any():
            continue
        label[mask] = cls
        if cls == PAINTED_MARKER:
            colour = rng.uniform((185, 25, 110), (235, 70, 170))
            rgb[mask] = colour + texture[mask]
            thermal[mask] = bg_thermal[mask]
        elif cls == WARM_PERSON:
            rgb[mask] = bg_rgb[mask]
            thermal[mask] = rng.uniform(185.0, 225.0) + rng.normal(0.0, 4.0, size=int(mask.sum()))
        else:
            colour = rng.uniform((25, 60, 170), (70, 115, 230))
            rgb[mask] = colour + texture[mask]
            thermal[mask] = rng.uniform(145.0, 170.0) + rng.normal(0.0, 4.0, size=int(mask.sum()))
    rgb8 = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    thermal8 = np.clip(thermal + 0.5, 0, 255).astype(np.uint8)
    return (to_night(rgb8, rng) if domain == "night" else rgb8), thermal8, label


def _split_rng(seed: int, split: str) -> np.random.Generator:
    # One stream per split, so changing one split's count never changes another split's scenes.
    return np.random.default_rng([int(seed), zlib.crc32(split.encode("utf-8"))])


def generate_fusion_dataset(root: str | Path, counts: Mapping[str, int] | None = None,
                            size: tuple[int, int] = (96, 128), seed: int = 0, progress: bool = True,
                            domain: str = "day") -> Path:
    """Writes the synthetic fusion dataset in the generic layout and returns `root`.

    counts: scenes per split (default {"train": 40, "val": 8, "test": 12}). Files: rgb/<stem>.png,
    x/<stem>.png (8-bit thermal), labels/<stem>.png (P mode with the class palette), splits/<split>.txt,
    dataset.yaml. Stems are `<split>_<index:04d>`. The same seed always gives the same bytes. domain: "day" or
    "night" (see `DOMAINS`).
    """

    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    for split, count in counts.items():
        if not isinstance(count, (int, np.integer)) or count < 1:
            raise DatasetError(f"synthetic counts[{split!r}]={count!r} must be a positive integer")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    total = sum(counts.values())
    with tqdm(total=total, desc=f"synthetic scenes -> {root}", unit="scene", disable=not progress,
              leave=False) as bar:
        for split, count in counts.items():
            rng = _split_rng(seed, split)
            stems = [f"{split}_{index:04d}" for index in range(int(count))]
            for stem in stems:
                rgb, thermal, label = generate_scene(rng, size, domain)
                io.write_image(root / "rgb" / f"{stem}.png", rgb)
                io.write_image(root / "x" / f"{stem}.png", thermal)
                io.write_label(root / "labels" / f"{stem}.png", label, SYNTHETIC_PALETTE)
                bar.update(1)
            (root / "splits" / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
    meta = {
        "name": "synthetic_fusion",
        "modality": "thermal",
        "class_names": list(SYNTHETIC_CLASSES),
        "palette": [list(c) for c in SYNTHETIC_PALETTE],
        "ignore_index": 255,
        "native_size": [int(size[0]), int(size[1])],
    }
    (root / "dataset.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return root
