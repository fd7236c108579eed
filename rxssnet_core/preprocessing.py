# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Modality preprocessing shared by training, evaluation and inference.

Raw arrays in, normalised float32 CHW arrays out. RGB arrives as (H, W, 3) uint8 in RGB order; X arrives as
(H, W) or (H, W, C) in uint8, uint16 or float32. Each modality is first mapped to [0, 1] (0 also meaning
"no measurement" for depth), replicated or reduced to the network's X channel count, then normalised with the
ImageNet statistics, exactly as the reference does for both inputs. Only numpy and OpenCV: the ROS node and
ONNX Runtime deployments use this module without torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rxssnet_core.errors import RXSSNetError
from rxssnet_core.network_input import Letterbox, letterbox, resize_hwc

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Statistics for a single grey channel (mean of the three ImageNet channels), for a native 1-channel X stem.
GREY_MEAN = (0.449,)
GREY_STD = (0.226,)

MODALITIES = ("thermal", "depth", "disparity", "hha", "polarization")
POLARIZATION_CHANNELS = ("aolp", "dolp")


class PreprocessError(RXSSNetError, ValueError):
    """An input array cannot be preprocessed; the message names the input and what is expected."""


@dataclass
class PreprocessConfig:
    """How raw RGB and X arrays become network tensors.

    modality: thermal | depth | disparity | hha | polarization.
    channel_order: order of the 3 RGB channels the network expects ("bgr" for the authors' checkpoints).
    x_channels: channels of the X tensor (1 or 3).
    thermal_range: (low, high) raw values mapped to 0 and 1; None: uint8 /255, uint16 and float per-frame
        0.5-99.5 percentile stretch.
    depth_scale_m: metres per unit of uint16 depth (0.001 for millimetres); float depth is in metres; uint8
        depth is taken as an already normalised 8-bit rendering (DFormer's NYUv2 PNGs) and divided by 255.
    depth_max_m: depth mapped to 1.0 (farther is clipped).
    disparity_max: disparity in pixels mapped to 1.0 (Cityscapes stores (d * 256 + 1) in uint16, 0 invalid).
    polarization_channel: whether a polarization X (1 channel, or 3 for trichromatic per-colour values)
        holds AoLP (radians in [0, pi] as float, or [0, 255] as uint8) or DoLP ([0, 1] as float, [0, 255] as
        uint8).
    """

    modality: str = "thermal"
    channel_order: str = "rgb"
    x_channels: int = 3
    thermal_range: tuple[float, float] | None = None
    depth_scale_m: float = 0.001
    depth_max_m: float = 10.0
    disparity_max: float = 128.0
    polarization_channel: str = "aolp"

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise PreprocessError(
                f"preprocess.modality={self.modality!r} is unknown; choose one of {MODALITIES}")
        if self.channel_order not in ("rgb", "bgr"):
            raise PreprocessError(f"preprocess.channel_order={self.channel_order!r} must be 'rgb' or 'bgr'")
        if self.x_channels not in (1, 3):
            raise PreprocessError(f"preprocess.x_channels={self.x_channels!r} must be 1 or 3")
        if self.thermal_range is not None:
            low, high = (float(v) for v in self.thermal_range)
            if not high > low:
                raise PreprocessError(f"preprocess.thermal_range={self.thermal_range!r} needs high > low")
            self.thermal_range = (low, high)
        for name in ("depth_scale_m", "depth_max_m", "disparity_max"):
            if not float(getattr(self, name)) > 0:
                raise PreprocessError(f"preprocess.{name}={getattr(self, name)!r} must be > 0")
        if self.polarization_channel not in POLARIZATION_CHANNELS:
            raise PreprocessError(
                f"preprocess.polarization_channel={self.polarization_channel!r} must be one of "
                f"{POLARIZATION_CHANNELS}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.thermal_range is not None:
            data["thermal_range"] = list(self.thermal_range)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PreprocessError(f"unknown preprocess key(s) {unknown}; known keys: {sorted(known)}")
        data = dict(data)
        if data.get("thermal_range") is not None:
            data["thermal_range"] = tuple(data["thermal_range"])
        return cls(**data)


def _check_image(array: Any, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise PreprocessError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.ndim not in (2, 3) or array.shape[0] == 0 or array.shape[1] == 0:
        raise PreprocessError(f"{name} must be (H, W) or (H, W, C) with H, W > 0, got shape {array.shape}")
    return array


def _check_rgb(rgb: Any) -> np.ndarray:
    rgb = _check_image(rgb, "RGB image")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise PreprocessError(f"RGB image must be (H, W, 3), got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise PreprocessError(
            f"RGB image must be uint8 (8 bits per channel), got {rgb.dtype}; convert it to 8-bit first")
    return rgb


def rgb_to_unit(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) float32 in [0, 1], RGB order."""
    return _check_rgb(rgb).astype(np.float32) * np.float32(1.0 / 255.0)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    out = (values.astype(np.float32) - np.float32(low)) / np.float32(max(high - low, 1e-12))
    return np.clip(out, 0.0, 1.0)


def _finite_percentiles(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, (0.5, 99.5))
    return float(low), float(high)


def x_to_unit(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Raw X -> (H, W, C) float32 in [0, 1] with the modality's mapping (C is 1 or 3, as given).

    Invalid measurements (depth or disparity 0, NaN, inf, negative) become 0.
    """
    x = _check_image(x, "X image")
    if x.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise PreprocessError(f"X image dtype {x.dtype} is unsupported; use uint8, uint16 or float32")
    if x.ndim == 3 and x.shape[2] not in (1, 3):
        raise PreprocessError(f"X image must have 1 or 3 channels, got shape {x.shape}")
    if x.ndim == 2:
        x = x[:, :, None]
    modality = config.modality
    if modality == "thermal":
        if x.dtype == np.uint8 and config.thermal_range is None:
            unit = x.astype(np.float32) * np.float32(1.0 / 255.0)
        else:
            low, high = config.thermal_range if config.thermal_range is not None else _finite_percentiles(x)
            values = x.astype(np.float32)
            # Non-finite readings are "no measurement" -> 0 after the stretch (a NaN set to 0 before it would
            # land mid-range for Celsius data that goes below zero).
            unit = np.where(np.isfinite(values), _stretch(np.nan_to_num(values), low, high), 0.0)
    elif modality == "depth":
        if x.dtype == np.uint8:
            # 8-bit depth files are renderings already stretched to [0, 255] (metric scale lost); a millimetre
            # reading would need 16 bits, so scaling them by depth_scale_m would give near-zero garbage.
            unit = x.astype(np.float32) * np.float32(1.0 / 255.0)
        else:
            metres = x.astype(np.float32) * np.float32(config.depth_scale_m) if x.dtype.kind in "ui" \
                else x.astype(np.float32)
            valid = np.isfinite(metres) & (metres > 0)
            unit = np.where(valid, np.clip(metres / np.float32(config.depth_max_m), 0.0, 1.0), 0.0)
    elif modality == "disparity":
        if x.dtype == np.uint16:
            pixels = np.where(x > 0, (x.astype(np.float32) - 1.0) / 256.0, 0.0)
        else:
            pixels = x.astype(np.float32)
        valid = np.isfinite(pixels) & (pixels > 0)
        unit = np.where(valid, np.clip(pixels / np.float32(config.disparity_max), 0.0, 1.0), 0.0)
    elif modality == "hha":
        if x.dtype != np.uint8:
            raise PreprocessError(f"HHA X image must be uint8, got {x.dtype}")
        unit = x.astype(np.float32) * np.float32(1.0 / 255.0)
    else:  # polarization
        if x.dtype == np.uint8:
            unit = x.astype(np.float32) * np.float32(1.0 / 255.0)
        elif config.polarization_channel == "aolp":
            unit = np.clip(np.nan_to_num(x.astype(np.float32)) / np.float32(np.pi), 0.0, 1.0)
        else:
            unit = np.clip(np.nan_to_num(x.astype(np.float32)), 0.0, 1.0)
    return np.ascontiguousarray(unit, dtype=np.float32)


def polarization_from_angles(
    i0: np.ndarray, i45: np.ndarray, i90: np.ndarray, i135: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Four polarizer-angle intensity images -> (AoLP in [0, pi], DoLP in [0, 1]), float32, same shape.

    Stokes parameters: S0 = (I0 + I45 + I90 + I135) / 2, S1 = I0 - I90, S2 = I45 - I135.
    """
    i0, i45, i90, i135 = (np.asarray(a, dtype=np.float32) for a in (i0, i45, i90, i135))
    if not (i0.shape == i45.shape == i90.shape == i135.shape):
        raise PreprocessError(
            f"polarization angle images differ in shape: {i0.shape}, {i45.shape}, {i90.shape}, {i135.shape}")
    s0 = (i0 + i45 + i90 + i135) * 0.5
    s1 = i0 - i90
    s2 = i45 - i135
    dolp = np.clip(np.sqrt(s1 * s1 + s2 * s2) / np.maximum(s0, 1e-6), 0.0, 1.0)
    aolp = np.mod(0.5 * np.arctan2(s2, s1), np.pi)
    return aolp.astype(np.float32), dolp.astype(np.float32)


def _normalize_chw(unit_hwc: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    mean_arr = np.asarray(mean, dtype=np.float32)
    inv_std = np.float32(1.0) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(((unit_hwc - mean_arr) * inv_std).transpose(2, 0, 1))


def _order_channels(unit_hwc: np.ndarray, channel_order: str) -> np.ndarray:
    # The authors trained on BGR data normalised with the RGB-ordered ImageNet statistics (spec section 6.4):
    # reversing before normalising reproduces exactly what their loader fed the network.
    return unit_hwc[:, :, ::-1] if channel_order == "bgr" else unit_hwc


def _uint8_lut_chw(image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...],
                   out: np.ndarray | None = None) -> np.ndarray:
    """(H, W) or (H, W, C) uint8 -> (len(mean), H, W) float32 of ((v / 255) - mean) / std, by table lookup.

    One lookup per output value and no float intermediate: the arithmetic is done once per 256 values.
    A 2-D image is used for every output channel (X replicated to 3 channels). OpenCV's LUT writes each plane
    straight into the output (about 8x faster than numpy's gather at 640x480: the node's preprocessing cost).
    out: where to write, (len(mean), H, W) float32 (a view into a reused network input; see InputBuffers).
    """
    values = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
    mean_arr = np.asarray(mean, dtype=np.float32)
    inv_std = np.float32(1.0) / np.asarray(std, dtype=np.float32)
    tables = (values[None, :] - mean_arr[:, None]) * inv_std[:, None]  # same float32 ops as _normalize_chw
    if out is None:
        out = np.empty((len(mean), image.shape[0], image.shape[1]), dtype=np.float32)
    image = np.ascontiguousarray(image)
    planes = [image] * len(mean) if image.ndim == 2 else cv2.split(image)
    for channel in range(len(mean)):
        written = cv2.LUT(planes[channel], tables[channel], dst=out[channel])
        if not np.shares_memory(written, out[channel]):  # an OpenCV build that allocates its own output
            out[channel] = written
    return out


def _x_uint8_is_div255(config: PreprocessConfig) -> bool:
    """Whether `x_to_unit` maps uint8 X by v / 255 for this configuration (then a table lookup does it all)."""
    return config.modality in ("depth", "hha", "polarization") or (
        config.modality == "thermal" and config.thermal_range is None)


def normalize_rgb(rgb: np.ndarray, config: PreprocessConfig, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, in the network's channel order, ImageNet-normalised.

    out: (3, H, W) float32 to write into (returned); None allocates.
    """
    return _uint8_lut_chw(_order_channels(_check_rgb(rgb), config.channel_order), IMAGENET_MEAN, IMAGENET_STD,
                          out)


def normalize_x_unit(unit: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] -> (x_channels, H, W) normalised network input."""
    channels = unit.shape[2]
    if config.x_channels == 3:
        if channels == 1:
            unit = np.repeat(unit, 3, axis=2)
        else:
            unit = _order_channels(unit, config.channel_order)
        return _normalize_chw(unit, IMAGENET_MEAN, IMAGENET_STD)
    if channels == 3:
        unit = unit.mean(axis=2, keepdims=True)
    return _normalize_chw(unit, GREY_MEAN, GREY_STD)


def normalize_x(x: np.ndarray, config: PreprocessConfig, out: np.ndarray | None = None) -> np.ndarray:
    """Raw X -> (x_channels, H, W) float32 network input; out: (x_channels, H, W) float32 to write into."""
    x = _check_image(x, "X image")
    if x.dtype == np.uint8 and _x_uint8_is_div255(config):
        if x.ndim == 3 and x.shape[2] == 1:
            x = x[:, :, 0]
        if config.x_channels == 3 and (x.ndim == 2 or x.shape[2] == 3):
            plane = x if x.ndim == 2 else _order_channels(x, config.channel_order)
            return _uint8_lut_chw(plane, IMAGENET_MEAN, IMAGENET_STD, out)
        if config.x_channels == 1 and x.ndim == 2:
            return _uint8_lut_chw(x, GREY_MEAN, GREY_STD, out)
    normalized = normalize_x_unit(x_to_unit(x, config), config)
    if out is None:
        return normalized
    out[...] = normalized
    return out


def neutral_x(height: int, width: int, config: PreprocessConfig) -> np.ndarray:
    """An uninformative X in network space, (x_channels, H, W): every pixel at the normalisation mean.

    Fed when the X camera is missing (`x_missing_policy: rgb_only`) and by the fusion ablation.
    """
    return np.zeros((config.x_channels, height, width), dtype=np.float32)


def preprocess_pair(rgb: np.ndarray, x: np.ndarray, config: PreprocessConfig
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Raw RGB and X of the same size -> ((3, H, W), (x_channels, H, W)) float32 network inputs."""
    rgb = _check_image(rgb, "RGB image")
    x = _check_image(x, "X image")
    if rgb.shape[:2] != x.shape[:2]:
        raise PreprocessError(
            f"RGB image is {rgb.shape[1]}x{rgb.shape[0]} but X image is {x.shape[1]}x{x.shape[0]} (WxH); "
            "register X to RGB first (x_alignment: resize, homography or depth)")
    return normalize_rgb(rgb, config), normalize_x(x, config)


def image_size(rgb: Any) -> tuple[int, int]:
    """(H, W) of an (H, W, 3) RGB array, or PreprocessError naming what is wrong."""
    if not isinstance(rgb, np.ndarray):
        raise PreprocessError(f"RGB image must be a numpy array (H, W, 3) uint8, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise PreprocessError(f"RGB image must be (H, W, 3) with H, W > 0, got shape {rgb.shape}")
    return int(rgb.shape[0]), int(rgb.shape[1])


class InputBuffers:
    """The network inputs of one frame at a time, (3, H, W) and (x_channels, H, W) float32, reused frame after
    frame: their padding (0, the normalisation mean) is written once, and `prepare_inputs` writes each frame's
    content straight into them.

    Why: two frame-sized float arrays allocated, padded and copied every frame cost more than the whole resize
    and normalisation at 1920x1080 (page faults and memory traffic; `docs/benchmarks.md`). The arrays returned by
    `prepare_inputs(..., buffers=)` ARE these buffers: consume them before the next call, from one thread.
    """

    def __init__(self) -> None:
        self._shape: tuple[tuple[int, int], int] | None = None
        self._rgb = np.zeros((3, 0, 0), dtype=np.float32)
        self._x = np.zeros((0, 0, 0), dtype=np.float32)
        self._content: tuple[int, int] | None = None

    def arrays(self, network: tuple[int, int], content: tuple[int, int], x_channels: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """The two network inputs for `network` (H, W), padding at 0 outside the `content` (h, w) region."""
        if self._shape != (network, x_channels):
            self._shape = (network, x_channels)
            self._rgb = np.zeros((3, *network), dtype=np.float32)
            self._x = np.zeros((x_channels, *network), dtype=np.float32)
        elif self._content != content:  # a camera of another aspect ratio: the old content is padding now
            self._rgb.fill(0.0)
            self._x.fill(0.0)
        self._content = content
        return self._rgb, self._x


def prepare_inputs(rgb: np.ndarray, x: np.ndarray | None, config: PreprocessConfig,
                   size: tuple[int, int] | None = None, buffers: InputBuffers | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Raw images -> normalised ((3, h, w), (C, h, w)) float32 network inputs at `size` (default: image size).

    A size other than the image's is reached by the one letterbox rule (`rxssnet_core.network_input`): the images
    are resized keeping their aspect ratio (uint8/uint16 before the float conversion, so the float work is done
    at the network's size) and padded bottom/right with the normalisation mean. What inference and INT8
    calibration feed the network. x=None gives the neutral X (RGB-only degraded mode), as the node's
    `x_missing_policy: rgb_only` does.
    buffers: write into these reused arrays (and return them) instead of fresh ones (`InputBuffers`).
    """
    height, width = image_size(rgb)
    box = letterbox((height, width), size or (height, width))
    if x is not None:
        x = _check_image(x, "X image")
        if x.shape[:2] != (height, width):
            raise PreprocessError(
                f"RGB image is {width}x{height} but X image is {x.shape[1]}x{x.shape[0]} (WxH); "
                "register X to RGB first (x_alignment: resize, homography or depth)")
    # fresh arrays, or the caller's reused ones: the same writes either way (padding stays at 0, the mean)
    rgb_out, x_out = (buffers or InputBuffers()).arrays(box.network, box.content, config.x_channels)
    height, width = box.content
    normalize_rgb(resize_hwc(_check_rgb(rgb), box.content), config, rgb_out[:, :height, :width])
    if x is None:
        x_out.fill(0.0)  # neutral_x: every pixel at the normalisation mean
    else:
        _x_content(x, config, box, x_out[:, :height, :width])
    return rgb_out, x_out


def _x_content(x: np.ndarray, config: PreprocessConfig, box: Letterbox, out: np.ndarray) -> None:
    """Raw X -> its normalised content region (x_channels, h, w), written into `out`."""
    if x.dtype in (np.uint8, np.uint16):
        normalize_x(resize_hwc(x, box.content), config, out)
    else:  # float X may hold NaN/inf ("no measurement"): mapped to [0, 1] first, so that no NaN is interpolated
        out[...] = normalize_x_unit(resize_hwc(x_to_unit(x, config), box.content), config)
