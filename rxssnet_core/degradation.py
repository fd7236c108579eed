# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a failed camera looks like to the network: the one definition of each input degradation.

Training (`data.augmentation.ModalityDropout`), evaluation (`evaluation.evaluator`, `rxssnet eval
--degraded-modes`, `rxssnet bag eval`) and the ROS node's degraded modes all call these functions, so a model
is trained on exactly what it is later scored on and fed. Everything works on normalised network inputs:
rgb (3, H, W) and x (C, H, W) float32, as `preprocessing.preprocess_pair` returns them. Only numpy: the node
and ONNX deployments import this without torch.

Kinds (`DEGRADATIONS`):
  x_missing    X replaced by `preprocessing.neutral_x` (the normalisation mean): what the node feeds when X is
               absent, silent, frozen or blank (`x_missing_policy: rgb_only`, mode rgb_only)
  x_blank      X of an unplugged camera that still publishes: every raw pixel 0 (black / coldest / no depth)
  x_noise      Gaussian noise of `noise_std` (normalised units) added to X: a noisy or badly gained sensor
  x_shift      X translated by `shift_px` pixels (edge pixels repeated): a wrong extrinsic calibration
  rgb_missing  RGB black (every raw pixel 0): night, or a dead RGB camera; what the node feeds in mode x_only
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rxssnet_core.preprocessing import (
    PreprocessConfig,
    PreprocessError,
    neutral_x,
    normalize_rgb,
    normalize_x_unit,
)

X_DEGRADATIONS = ("x_missing", "x_blank", "x_noise", "x_shift")
RGB_DEGRADATIONS = ("rgb_missing",)
DEGRADATIONS = X_DEGRADATIONS + RGB_DEGRADATIONS
DEFAULT_NOISE_STD = 0.5
DEFAULT_SHIFT_PX = 8


@dataclass(frozen=True)
class DegradationParams:
    """Strength of the corrupting kinds. noise_std: Gaussian sigma in normalised units (1.0 = one ImageNet
    standard deviation); shift_px: translation of X in pixels (evaluation shifts right and down by exactly
    this; training draws a random direction and 1..shift_px).
    """

    noise_std: float = DEFAULT_NOISE_STD
    shift_px: int = DEFAULT_SHIFT_PX

    def __post_init__(self) -> None:
        if not (np.isfinite(self.noise_std) and self.noise_std >= 0):
            raise PreprocessError(f"noise_std={self.noise_std!r} must be a finite number >= 0")
        if not isinstance(self.shift_px, (int, np.integer)) or isinstance(self.shift_px, bool) or self.shift_px < 0:
            raise PreprocessError(f"shift_px={self.shift_px!r} must be an integer >= 0")


def recorded_modality_dropout(model_metadata: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The `train.modality_dropout` a checkpoint was trained with (its metadata's "recipe", which the Trainer
    writes), or None when the checkpoint does not say.
    """
    recipe = (model_metadata or {}).get("recipe")
    dropout = recipe.get("modality_dropout") if isinstance(recipe, Mapping) else None
    return dropout if isinstance(dropout, Mapping) else None


def _dropout_rates(dropout: Mapping[str, Any]) -> dict[str, tuple[float, list[str]]]:
    """{"X": (x_rate, x_kinds), "RGB": (rgb_rate, rgb_kinds)} of a recorded modality dropout."""
    return {name: (float(dropout.get(f"{key}_rate", 0.0)), list(dropout.get(f"{key}_kinds", [])))
            for name, key in (("X", "x"), ("RGB", "rgb"))}


def trained_for_failures(model_metadata: Mapping[str, Any] | None) -> str:
    """How the model was trained for failed cameras: "X 25 % (x_missing), RGB 20 % (rgb_missing)", "off (the
    paper's recipe)" or "not recorded ...".
    """
    dropout = recorded_modality_dropout(model_metadata)
    if dropout is None:
        return "not recorded in the checkpoint (trained elsewhere, or before rxssnet recorded it)"
    parts = [f"{name} {rate * 100:g} % ({', '.join(kinds)})"
             for name, (rate, kinds) in _dropout_rates(dropout).items() if rate > 0]
    return ", ".join(parts) if parts else "off (the paper's recipe)"


def degraded_mode_warning(model_metadata: Mapping[str, Any] | None, serves_degraded_modes: bool) -> str | None:
    """A warning for a node that may serve rgb_only / x_only labels from a model trained without modality
    dropout (such a model fed a neutral X scored 0.107 mIoU on the fusion proof, 0.944 with both cameras);
    None when there is nothing to warn about.
    """
    dropout = recorded_modality_dropout(model_metadata)
    if not serves_degraded_modes or dropout is None:
        return None
    if any(rate > 0 for rate, _ in _dropout_rates(dropout).values()):
        return None
    return ("degraded modes are enabled but this model was trained without modality dropout (the paper's recipe): "
            "its rgb_only / x_only labels will be poor. Retrain with train.modality_dropout on (our default; README "
            "\"When a camera fails\") or set x_missing_policy / rgb_missing_policy to drop")


def check_kind(kind: str, allowed: tuple[str, ...] = DEGRADATIONS, what: str = "degradation") -> str:
    """`kind` if it is one of `allowed`, else a PreprocessError listing them."""
    if kind not in allowed:
        raise PreprocessError(f"{what} {kind!r} is unknown; choose one of {', '.join(allowed)}")
    return kind


def missing_rgb(height: int, width: int) -> np.ndarray:
    """The raw (H, W, 3) uint8 RGB image that stands for a missing RGB camera: black (what `rgb_missing` feeds)."""
    return np.zeros((height, width, 3), dtype=np.uint8)


def blank_rgb(height: int, width: int, config: PreprocessConfig) -> np.ndarray:
    """(3, H, W) network input of `missing_rgb`: an all-black RGB image (night, or a dead RGB camera)."""
    return normalize_rgb(missing_rgb(height, width), config)


def blank_x(height: int, width: int, config: PreprocessConfig) -> np.ndarray:
    """(x_channels, H, W) network input of an X image whose every raw pixel is 0 (unit value 0)."""
    return normalize_x_unit(np.zeros((height, width, 1), dtype=np.float32), config)


def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(C, H, W) translated by (dy, dx) pixels (positive: down, right); uncovered pixels repeat the edge."""
    height, width = image.shape[-2:]
    rows = np.clip(np.arange(height) - int(dy), 0, height - 1)
    cols = np.clip(np.arange(width) - int(dx), 0, width - 1)
    return np.ascontiguousarray(image[..., rows[:, None], cols[None, :]])


def add_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """`image` plus Gaussian noise of standard deviation `std` (same dtype)."""
    noise = rng.normal(0.0, std, size=image.shape).astype(image.dtype)
    return image + noise


def degrade(rgb: np.ndarray, x: np.ndarray, kind: str, config: PreprocessConfig,
            rng: np.random.Generator | None = None, params: DegradationParams | None = None,
            shift: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Applies degradation `kind` to one normalised sample; returns new (rgb, x), inputs untouched.

    rng: for x_noise (default: a fixed seed, so evaluation is repeatable). shift: (dy, dx) for x_shift
    (default: (shift_px, shift_px)).
    """
    check_kind(kind)
    params = params or DegradationParams()
    height, width = rgb.shape[-2:]
    if kind == "x_missing":
        return rgb, neutral_x(height, width, config).astype(x.dtype, copy=False)
    if kind == "x_blank":
        return rgb, blank_x(height, width, config).astype(x.dtype, copy=False)
    if kind == "x_noise":
        return rgb, add_noise(x, params.noise_std, rng if rng is not None else np.random.default_rng(0))
    if kind == "x_shift":
        dy, dx = shift if shift is not None else (params.shift_px, params.shift_px)
        return rgb, shift_image(x, dy, dx)
    return blank_rgb(height, width, config).astype(rgb.dtype, copy=False), x
