# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The training augmentation of the recipe (spec section 2), applied identically to RGB, X and label.

Order: random horizontal flip (p=0.5), random scale from a fixed set (bilinear for images, nearest for
labels), random crop to `crop_size` with padding (images 0, which is the mean after normalisation; label 255).
It runs on the already normalised CHW arrays: flip and scale commute with the per-channel affine
normalisation, and padding after normalisation is what the reference does.

Not in the reference: `ModalityDropout` (training for a failed camera) then replaces X on a fraction
`x_rate` of the samples, or else RGB on a fraction `rgb_rate`, by one of the degradations of
`rxssnet_core.degradation` (the same definitions evaluation and the ROS node use). Never both in one sample, so
every training sample keeps one informative modality. Off (rates 0) in the paper recipes, on in ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from rxssnet_core.data.io import DatasetError
from rxssnet_core.degradation import RGB_DEGRADATIONS, X_DEGRADATIONS, DegradationParams, degrade
from rxssnet_core.preprocessing import PreprocessConfig, PreprocessError

RECIPE_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
LABEL_PAD = 255
IMAGE_PAD = 0.0


@dataclass
class ModalityDropout:
    """Training for missing modalities: per sample, with probability x_rate X gets one of `x_kinds` (drawn
    uniformly), else with probability rgb_rate RGB gets one of `rgb_kinds`. Kinds and strengths are those of
    `rxssnet_core.degradation`; `preprocess` (the dataset's) gives the network-space value of a black image.
    x_shift draws a random direction and 1..shift_px pixels, x_noise a fresh noise field per sample.
    """

    preprocess: PreprocessConfig
    x_rate: float = 0.0
    rgb_rate: float = 0.0
    x_kinds: tuple[str, ...] = ("x_missing",)
    rgb_kinds: tuple[str, ...] = ("rgb_missing",)
    params: DegradationParams = field(default_factory=DegradationParams)

    def __post_init__(self) -> None:
        for name in ("x_rate", "rgb_rate"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
                raise DatasetError(f"modality_dropout.{name}={value!r} must be a fraction in [0, 1]")
        if self.x_rate + self.rgb_rate > 1.0:
            raise DatasetError(f"modality_dropout.x_rate + rgb_rate = {self.x_rate + self.rgb_rate:g} must be <= 1 "
                               "(a sample never loses both inputs)")
        for name, allowed in (("x_kinds", X_DEGRADATIONS), ("rgb_kinds", RGB_DEGRADATIONS)):
            kinds = tuple(getattr(self, name))
            bad = [k for k in kinds if k not in allowed]
            if not kinds or bad:
                raise DatasetError(f"modality_dropout.{name}={list(kinds)!r} must be a non-empty list of "
                                   f"{', '.join(allowed)}")
            setattr(self, name, kinds)

    @property
    def enabled(self) -> bool:
        return self.x_rate > 0 or self.rgb_rate > 0


@dataclass
class AugmentConfig:
    """crop_size: (H, W) of training crops, or None for no crop. scales: the random-scale choices.
    hflip: horizontal flip with p=0.5. modality_dropout: degrade X or RGB on a fraction of samples (None: off).
    """

    crop_size: tuple[int, int] | None = (480, 640)
    scales: tuple[float, ...] = RECIPE_SCALES
    hflip: bool = True
    modality_dropout: ModalityDropout | None = None

    def __post_init__(self) -> None:
        if self.crop_size is not None:
            size = tuple(self.crop_size)
            if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
                raise DatasetError(
                    f"augment.crop_size={self.crop_size!r} must be (height, width) positive integers")
            self.crop_size = (int(size[0]), int(size[1]))
        scales = tuple(float(s) for s in self.scales)
        if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
            raise DatasetError(f"augment.scales={self.scales!r} must be a non-empty list of positive numbers")
        self.scales = scales


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the random state: flip, scale, and where the crop starts in the scaled image."""

    flip: bool
    scale: float
    top: int
    left: int


def draw_params(height: int, width: int, config: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Draws flip, scale and crop offset for an (height, width) image, in that fixed order."""
    flip = bool(config.hflip and rng.random() < 0.5)
    scale = float(config.scales[int(rng.integers(len(config.scales)))])
    scaled_h, scaled_w = scaled_size(height, width, scale)
    top = left = 0
    if config.crop_size is not None:
        crop_h, crop_w = config.crop_size
        top = int(rng.integers(scaled_h - crop_h + 1)) if scaled_h > crop_h else 0
        left = int(rng.integers(scaled_w - crop_w + 1)) if scaled_w > crop_w else 0
    return AugmentParams(flip, scale, top, left)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def _resize_chw(image: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    if image.shape[1:] == size:
        return image
    resized = cv2.resize(np.ascontiguousarray(image.transpose(1, 2, 0)), (size[1], size[0]),
                         interpolation=interpolation)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    return np.ascontiguousarray(resized.transpose(2, 0, 1))


def crop_pad(array: np.ndarray, top: int, left: int, size: tuple[int, int], pad_value: float) -> np.ndarray:
    """Crops [top:top+h, left:left+w] of the last two axes, then centre-pads to `size` with `pad_value`."""
    crop_h, crop_w = size
    cropped = array[..., top : top + crop_h, left : left + crop_w]
    height, width = cropped.shape[-2:]
    if (height, width) == (crop_h, crop_w):
        return np.ascontiguousarray(cropped)
    out = np.full((*array.shape[:-2], crop_h, crop_w), pad_value, dtype=array.dtype)
    pad_top, pad_left = (crop_h - height) // 2, (crop_w - width) // 2
    out[..., pad_top : pad_top + height, pad_left : pad_left + width] = cropped
    return out


def apply_params(rgb: np.ndarray, x: np.ndarray, label: np.ndarray, params: AugmentParams,
                 crop_size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Applies one drawn transform to RGB (3, H, W), X (C, H, W) float arrays and the (H, W) integer label."""
    if params.flip:
        rgb, x, label = rgb[:, :, ::-1], x[:, :, ::-1], label[:, ::-1]
    size = scaled_size(label.shape[0], label.shape[1], params.scale)
    rgb = _resize_chw(np.ascontiguousarray(rgb), size, cv2.INTER_LINEAR)
    x = _resize_chw(np.ascontiguousarray(x), size, cv2.INTER_LINEAR)
    # INTER_NEAREST_EXACT samples the pixel centre, the same geometry as the bilinear image resize.
    label = _resize_chw(np.ascontiguousarray(label)[None], size, cv2.INTER_NEAREST_EXACT)[0]
    if crop_size is not None:
        rgb = crop_pad(rgb, params.top, params.left, crop_size, IMAGE_PAD)
        x = crop_pad(x, params.top, params.left, crop_size, IMAGE_PAD)
        label = crop_pad(label, params.top, params.left, crop_size, LABEL_PAD)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(x), np.ascontiguousarray(label)


def augment(rgb: np.ndarray, x: np.ndarray, label: np.ndarray, config: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random flip, scale and crop of one normalised sample, one random state for all three arrays.

    rgb (3, H, W) and x (C, H, W) float32, label (H, W) uint8/uint16 -> the same dtypes at `config.crop_size`
    (or the scaled size when crop_size is None).
    """
    _check_shapes(rgb, x, label)
    params = draw_params(label.shape[0], label.shape[1], config, rng)
    rgb, x, label = apply_params(rgb, x, label, params, config.crop_size)
    if config.modality_dropout is not None and config.modality_dropout.enabled:
        # Drawn after the geometric parameters, so the geometric stream is the same with the option on or off.
        rgb, x = drop_modality(rgb, x, config.modality_dropout, rng)
    return rgb, x, label


def draw_degradation(dropout: ModalityDropout, rng: np.random.Generator) -> str | None:
    """The degradation kind for one sample (None: both inputs intact); always draws one uniform first."""
    draw = float(rng.random())
    if draw < dropout.x_rate:
        return dropout.x_kinds[int(rng.integers(len(dropout.x_kinds)))]
    if draw < dropout.x_rate + dropout.rgb_rate:
        return dropout.rgb_kinds[int(rng.integers(len(dropout.rgb_kinds)))]
    return None


def drop_modality(rgb: np.ndarray, x: np.ndarray, dropout: ModalityDropout, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One sample's (rgb, x) after ModalityDropout: unchanged, or with X or RGB degraded."""
    kind = draw_degradation(dropout, rng)
    if kind is None:
        return rgb, x
    shift = None
    if kind == "x_shift":
        size = int(rng.integers(1, dropout.params.shift_px + 1)) if dropout.params.shift_px else 0
        angle = float(rng.uniform(0.0, 2.0 * np.pi))
        shift = (round(size * np.sin(angle)), round(size * np.cos(angle)))
    try:
        return degrade(rgb, x, kind, dropout.preprocess, rng=rng, params=dropout.params, shift=shift)
    except PreprocessError as error:
        raise DatasetError(f"modality_dropout: {error}") from error


def _check_shapes(rgb: np.ndarray, x: np.ndarray, label: np.ndarray) -> None:
    shapes: Sequence[tuple[int, ...]] = (rgb.shape[1:], x.shape[1:], label.shape)
    if rgb.ndim != 3 or x.ndim != 3 or label.ndim != 2 or len(set(shapes)) != 1:
        raise DatasetError(
            f"augment needs rgb (3, H, W), x (C, H, W) and label (H, W) of one size; got {rgb.shape}, "
            f"{x.shape}, {label.shape}")
