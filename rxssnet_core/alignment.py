# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Registering the X image (thermal, depth, polarization) to the RGB camera of a real rig.

Datasets hand the network pixel-registered RGB-X pairs; a robot's X camera has its own resolution, intrinsics,
distortion and mounting offset. `XAligner` resamples each X frame into the RGB image grid, so that
`preprocess_pair` and the network see the pair as the datasets did. numpy and OpenCV only: the ROS node, the
offline bag evaluation and the benchmark all use this module.

Modes (`AlignmentConfig.mode`, the node's `x_alignment` parameter):

* ``none``: X already matches the RGB image (same size, registered by the driver).
* ``resize``: X covers the same field of view; it is only scaled to the RGB size.
* ``homography``: X is mapped by a 3x3 homography from X pixels to RGB pixels: exact for a plane (or for a
  distant scene), given in the config or computed from both camera models, the extrinsic and a plane distance.
* ``depth``: X is a depth image; every pixel is back-projected, moved into the RGB camera and z-buffered.

Conventions: pixel centres are integers (OpenCV and ROS `CameraInfo`); the extrinsic (R, t) maps points of
the X camera's optical frame to the RGB camera's optical frame: ``p_rgb = R @ p_x + t`` (metres). A homography
always maps between the *undistorted* images of the cameras whose models are given (raw pixels for a camera
without a model, or without distortion), so lens distortion of both cameras is handled by the same cached
remap.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from rxssnet_core.camera_geometry import (
    AlignmentError,
    CameraModel,
    as_camera,
    as_matrix,
    check_homography,
    check_plane,
    check_rotation,
    check_shape,
    homography_from_cameras,
    is_empty,
)

ALIGNMENT_MODES = ("none", "resize", "homography", "depth")
INTERPOLATIONS = {
    "nearest": getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST),
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}
# Depth-like data must never be interpolated: a value halfway between a foreground edge and the background is
# a surface that does not exist. Intensity-like data (thermal, HHA, DoLP) interpolates smoothly.
DEFAULT_INTERPOLATION = {
    "thermal": "linear",
    "depth": "nearest",
    "disparity": "nearest",
    "hha": "linear",
    "polarization": "linear",
    "label": "nearest",
}
# Node parameter names, used in error messages so that users know which setting to fix.
PARAMETER_NAMES = {
    "mode": "x_alignment",
    "homography": "x_homography",
    "extrinsic_rotation": "x_extrinsic_rotation",
    "extrinsic_translation": "x_extrinsic_translation",
    "plane_distance_m": "alignment_plane_m",
    "interpolation": "x_interpolation",
    "modality": "modality",
    "depth_scale_m": "depth_scale_m",
}
_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
_OUTSIDE = -1.0e5  # remap coordinate of "no source pixel": far outside any image, so border handling yields 0


def default_interpolation(modality: str) -> str:
    """The interpolation used for a modality when none is configured: nearest for depth-like data."""
    return DEFAULT_INTERPOLATION.get(modality, "linear")


# ------------------------------------------------------------------------------------------------------------
# Configuration


@dataclass
class AlignmentConfig:
    """How X is registered to RGB (node parameters in brackets).

    mode [x_alignment]: none | resize | homography | depth.
    homography [x_homography]: 3x3 (or 9 numbers, row-major) mapping X pixels to RGB pixels; None: computed
        from both camera_infos, the extrinsic and plane_distance_m.
    extrinsic_rotation [x_extrinsic_rotation], extrinsic_translation [x_extrinsic_translation]:
        p_rgb = R p_x + t, X optical frame to RGB optical frame, metres. One may be None (identity / zero);
        both None is an error in the modes that need them, unless `set_extrinsic` supplies them
        (x_extrinsic_source: tf).
    plane_distance_m [alignment_plane_m]: scene plane distance from the X camera for the computed homography.
    modality: what X holds (thermal, depth, disparity, hha, polarization, label); picks the default
        interpolation.
    interpolation [x_interpolation]: nearest | linear | cubic | area; None: nearest for depth-like modalities,
        linear for the others.
    depth_scale_m: metres per unit of integer depth images (depth mode); float depth is in metres.
    """

    mode: str = "none"
    homography: Any = None
    extrinsic_rotation: Any = None
    extrinsic_translation: Any = None
    plane_distance_m: float | None = None
    modality: str = "thermal"
    interpolation: str | None = None
    depth_scale_m: float = 0.001
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ALIGNMENT_MODES:
            raise AlignmentError(f"x_alignment={self.mode!r} is unknown; choose one of {', '.join(ALIGNMENT_MODES)}")
        self.homography = None if is_empty(self.homography) else check_homography(self.homography)
        self.extrinsic_rotation = None if is_empty(self.extrinsic_rotation) else check_rotation(
            self.extrinsic_rotation)
        self.extrinsic_translation = None if is_empty(self.extrinsic_translation) else as_matrix(
            self.extrinsic_translation, "x_extrinsic_translation", (3,))
        if self.plane_distance_m is not None:
            self.plane_distance_m = check_plane(self.plane_distance_m)
        if self.modality not in DEFAULT_INTERPOLATION:
            raise AlignmentError(
                f"modality={self.modality!r} is unknown for alignment; choose one of "
                f"{sorted(DEFAULT_INTERPOLATION)}")
        if self.interpolation is not None and self.interpolation not in INTERPOLATIONS:
            raise AlignmentError(
                f"x_interpolation={self.interpolation!r} is unknown; choose one of {sorted(INTERPOLATIONS)}")
        if not (isinstance(self.depth_scale_m, (int, float)) and math.isfinite(self.depth_scale_m)
                and self.depth_scale_m > 0):
            raise AlignmentError(f"depth_scale_m={self.depth_scale_m!r} must be > 0 (0.001 for millimetres)")

    @property
    def resolved_interpolation(self) -> str:
        return self.interpolation or default_interpolation(self.modality)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AlignmentConfig:
        """From node parameter names (x_alignment, x_homography, ...); unknown names are ignored."""
        by_param = {param: attr for attr, param in PARAMETER_NAMES.items()}
        values = {by_param[key]: value for key, value in params.items() if key in by_param}
        if values.get("plane_distance_m") in (0, 0.0):
            values["plane_distance_m"] = None  # 0 is the node's "unset"
        if values.get("interpolation") in ("", "auto"):
            values["interpolation"] = None
        return cls(**values)


# ------------------------------------------------------------------------------------------------------------
# The aligner


@dataclass
class _RemapPlan:
    map1: np.ndarray
    map2: np.ndarray | None


@dataclass
class _DepthPlan:
    rays: np.ndarray     # (3, N) float32: K_rgb R ray_x per depth pixel (NaN: lens model does not invert)
    offset: np.ndarray   # (3,) float32: K_rgb t
    rgb_size: tuple[int, int]
    # RGB lens distortion as a displacement table over the undistorted image: raw = ideal + (du, dv)[ideal]
    lut_origin: tuple[float, float] = (0.0, 0.0)
    lut_size: tuple[int, int] = (0, 0)
    displacement: np.ndarray | None = None  # complex64 du + i dv: one gather fetches both


class XAligner:
    """Registers X frames to the RGB image grid; maps are built on the first frame and cached.

    `align(x, rgb_shape, rgb_camera, x_camera)` returns X resampled to (H, W) of the RGB image, with the dtype
    and channels of `x`. Pixels the X camera does not see are 0 (invalid depth, no measurement).
    """

    def __init__(self, config: AlignmentConfig | None = None) -> None:
        self.config = config or AlignmentConfig()
        self._lock = threading.Lock()
        self._cache_key: tuple | None = None
        self._plan: _RemapPlan | _DepthPlan | None = None

    @property
    def needs_camera_info(self) -> bool:
        """True when camera_info of both cameras is required (depth; homography without a matrix)."""
        mode = self.config.mode
        return mode == "depth" or (mode == "homography" and self.config.homography is None)

    @property
    def needs_extrinsic(self) -> bool:
        """True when the extrinsic (R, t) is used (depth; homography without a matrix)."""
        return self.needs_camera_info

    def set_extrinsic(self, rotation: Any, translation: Any) -> None:
        """Replace (R, t) (X optical frame -> RGB optical frame), e.g. from tf; maps rebuild if it changed."""
        rotation = check_rotation(rotation)
        translation = as_matrix(translation, "x_extrinsic_translation", (3,))
        with self._lock:
            self.config.extrinsic_rotation = rotation
            self.config.extrinsic_translation = translation

    def align(self, x: np.ndarray, rgb_shape: Sequence[int], rgb_camera: CameraModel | Any | None = None,
              x_camera: CameraModel | Any | None = None) -> np.ndarray:
        """X (h, w[, C]) -> X registered to the RGB image, (H, W[, C]) with H, W = rgb_shape[:2]."""
        x = self._check_x(x)
        height, width = check_shape(rgb_shape, "rgb_shape")
        mode = self.config.mode
        if mode == "none":
            if x.shape[:2] != (height, width):
                raise AlignmentError(
                    "x_alignment=none needs the X image at the RGB size, but X is "
                    f"{x.shape[1]}x{x.shape[0]} and RGB is {width}x{height} (width x height); set "
                    "x_alignment to resize (same field of view) or homography (different lens or mounting)")
            return x
        if mode == "resize":
            return self._resize(x, height, width)
        rgb_camera = as_camera(rgb_camera, "rgb camera_info")
        x_camera = as_camera(x_camera, "x camera_info")
        if rgb_camera is not None:
            rgb_camera.check_size(height, width, "RGB image")
        if x_camera is not None:
            x_camera.check_size(x.shape[0], x.shape[1], "X image")
        if mode == "homography":
            return self._homography(x, height, width, rgb_camera, x_camera)
        return self._depth(x, height, width, rgb_camera, x_camera)

    # -- checks ----------------------------------------------------------------------------------------------

    def _check_x(self, x: Any) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise AlignmentError(f"X image must be a numpy array, got {type(x).__name__}")
        if x.ndim not in (2, 3) or x.shape[0] == 0 or x.shape[1] == 0:
            raise AlignmentError(f"X image must be (H, W) or (H, W, C) with H, W > 0, got shape {x.shape}")
        if x.dtype.type not in _SUPPORTED_DTYPES:
            raise AlignmentError(
                f"X image dtype {x.dtype} is not supported for alignment; use uint8, uint16, int16 or "
                "float32")
        return x

    def _extrinsic(self) -> tuple[np.ndarray, np.ndarray]:
        rotation, translation = self.config.extrinsic_rotation, self.config.extrinsic_translation
        if rotation is None and translation is None:
            raise AlignmentError(
                f"x_alignment={self.config.mode} needs the extrinsic from the X camera to the RGB camera: "
                "set x_extrinsic_rotation (3x3 row-major) and x_extrinsic_translation (metres), or use "
                "x_extrinsic_source: tf")
        rotation = np.eye(3) if rotation is None else rotation
        translation = np.zeros(3) if translation is None else translation
        return rotation, translation

    # -- resize ----------------------------------------------------------------------------------------------

    def _resize(self, x: np.ndarray, height: int, width: int) -> np.ndarray:
        if x.shape[:2] == (height, width):
            return x
        interpolation = INTERPOLATIONS[self.config.resolved_interpolation]
        return _per_channel(x, lambda part: cv2.resize(part, (width, height), interpolation=interpolation))

    # -- homography ------------------------------------------------------------------------------------------

    def _homography(self, x: np.ndarray, height: int, width: int, rgb_camera: CameraModel | None,
                    x_camera: CameraModel | None) -> np.ndarray:
        config = self.config
        if config.homography is None:
            missing = _missing_cameras(rgb_camera, x_camera)
            if missing:
                raise AlignmentError(
                    "x_alignment=homography without x_homography computes it from both camera_infos, but "
                    f"{' and '.join(missing)} is missing; subscribe both camera_info topics or set "
                    "x_homography (rxssnet calibrate homography)")
            if config.plane_distance_m is None:
                raise AlignmentError(
                    "x_alignment=homography without x_homography needs alignment_plane_m, the typical "
                    "scene distance in metres from the X camera (or set x_homography)")
        interpolation = config.resolved_interpolation
        key = ("homography", x.shape[:2], (height, width), interpolation, _camera_key(rgb_camera),
               _camera_key(x_camera), _array_key(config.homography), _array_key(config.extrinsic_rotation),
               _array_key(config.extrinsic_translation), config.plane_distance_m)
        with self._lock:
            if key != self._cache_key:
                if config.homography is not None:
                    H = config.homography
                else:
                    rotation, translation = self._extrinsic()
                    H = homography_from_cameras(rgb_camera, x_camera, rotation, translation,
                                                config.plane_distance_m)
                self._plan = _homography_plan(H, (height, width), rgb_camera, x_camera,
                                              interpolation == "nearest")
                self._cache_key = key
            plan = self._plan
        # remap has no INTER_NEAREST_EXACT (the maps are already rounded) and no area averaging.
        flag = {"nearest": cv2.INTER_NEAREST, "area": cv2.INTER_LINEAR}.get(interpolation,
                                                                             INTERPOLATIONS[interpolation])
        return _remap(x, plan, flag)

    # -- depth -----------------------------------------------------------------------------------------------

    def _depth(self, depth: np.ndarray, height: int, width: int, rgb_camera: CameraModel | None,
               x_camera: CameraModel | None) -> np.ndarray:
        missing = _missing_cameras(rgb_camera, x_camera)
        if missing:
            raise AlignmentError(
                f"x_alignment=depth needs the camera_info of both cameras, but {' and '.join(missing)} is "
                "missing; subscribe the RGB and depth camera_info topics")
        if depth.ndim == 3:
            if depth.shape[2] != 1:
                raise AlignmentError(
                    f"x_alignment=depth needs a 1-channel depth image, got shape {depth.shape}")
            depth = depth[:, :, 0]
        if depth.dtype not in (np.uint16, np.float32, np.float64):
            raise AlignmentError(
                "x_alignment=depth needs uint16 (depth_scale_m units, e.g. millimetres) or float32 "
                f"(metres) depth, got {depth.dtype}")
        key = ("depth", depth.shape, (height, width), rgb_camera.key(), x_camera.key(),
               _array_key(self.config.extrinsic_rotation), _array_key(self.config.extrinsic_translation))
        with self._lock:
            if key != self._cache_key:
                rotation, translation = self._extrinsic()
                self._plan = _depth_plan(depth.shape, (height, width), rgb_camera, x_camera, rotation,
                                         translation)
                self._cache_key = key
            plan = self._plan
        scale = self.config.depth_scale_m if depth.dtype == np.uint16 else 1.0
        z_rgb = _reproject_depth(depth, plan, scale)
        if depth.dtype == np.uint16:
            return np.clip(np.rint(z_rgb / np.float32(scale)), 0, 65535).astype(np.uint16)
        return z_rgb.astype(depth.dtype, copy=False)


# ------------------------------------------------------------------------------------------------------------
# Plans (built once) and per-frame work


def _missing_cameras(rgb_camera: CameraModel | None, x_camera: CameraModel | None) -> list[str]:
    return [name for name, cam in (("rgb_camera", rgb_camera), ("x_camera", x_camera)) if cam is None]


def _camera_key(camera: CameraModel | None) -> tuple | None:
    return None if camera is None else camera.key()


def _array_key(array: np.ndarray | None) -> bytes | None:
    return None if array is None else np.asarray(array, dtype=np.float64).tobytes()


def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return u, v


def _fixed_point(map_x: np.ndarray, map_y: np.ndarray, nearest: bool) -> _RemapPlan:
    """Float maps -> OpenCV's fixed-point maps, the fastest remap input (1/32 pixel resolution)."""
    map_x = np.where(np.isfinite(map_x), map_x, _OUTSIDE).astype(np.float32)
    map_y = np.where(np.isfinite(map_y), map_y, _OUTSIDE).astype(np.float32)
    # nninterpolation rounds to the nearest pixel; the default truncates: a half-pixel shift under nearest.
    map1, map2 = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2, nninterpolation=nearest)
    return _RemapPlan(map1, None if nearest else map2)


def _homography_plan(H: np.ndarray, rgb_shape: tuple[int, int], rgb_camera: CameraModel | None,
                     x_camera: CameraModel | None, nearest: bool) -> _RemapPlan:
    """For every raw RGB pixel, the raw X pixel it shows: RGB undistortion, H^-1, X distortion in one map."""
    height, width = rgb_shape
    u, v = _pixel_grid(height, width)
    if rgb_camera is not None and rgb_camera.has_distortion:
        xn, yn = rgb_camera.normalize(u, v)
        K = rgb_camera.K
        u, v = K[0, 0] * xn + K[0, 1] * yn + K[0, 2], K[1, 1] * yn + K[1, 2]
    Hinv = np.linalg.inv(H)
    w = Hinv[2, 0] * u + Hinv[2, 1] * v + Hinv[2, 2]
    behind = ~(w > 1e-9)  # the RGB ray meets the plane behind the X camera (or not at all)
    w = np.where(behind, 1.0, w)
    ux = (Hinv[0, 0] * u + Hinv[0, 1] * v + Hinv[0, 2]) / w
    vx = (Hinv[1, 0] * u + Hinv[1, 1] * v + Hinv[1, 2]) / w
    if x_camera is not None and x_camera.has_distortion:
        K = x_camera.K
        yn = (vx - K[1, 2]) / K[1, 1]
        xn = (ux - K[0, 2] - K[0, 1] * yn) / K[0, 0]
        ux, vx = x_camera.project(xn, yn)
    ux = np.where(behind, np.nan, ux)
    vx = np.where(behind, np.nan, vx)
    return _fixed_point(ux, vx, nearest)


def _remap(x: np.ndarray, plan: _RemapPlan, flag: int) -> np.ndarray:
    def one(part: np.ndarray) -> np.ndarray:
        return cv2.remap(part, plan.map1, plan.map2, flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return _per_channel(x, one)


def _per_channel(x: np.ndarray, fn: Any) -> np.ndarray:
    """Apply an OpenCV resampler, keeping a trailing channel axis and splitting more than 4 channels."""
    if x.ndim == 2:
        return fn(x)
    if x.shape[2] <= 4:
        out = fn(np.ascontiguousarray(x))
        return out[:, :, None] if out.ndim == 2 else out
    return np.concatenate([_per_channel(x[:, :, i:i + 4], fn) for i in range(0, x.shape[2], 4)], axis=2)


def _depth_plan(depth_shape: tuple[int, int], rgb_shape: tuple[int, int], rgb_camera: CameraModel,
                x_camera: CameraModel, rotation: np.ndarray, translation: np.ndarray) -> _DepthPlan:
    """Precompute K_rgb R ray for every depth pixel, and the RGB lens displacement table."""
    u, v = _pixel_grid(*depth_shape)
    xn, yn = x_camera.normalize(u.ravel(), v.ravel())
    rays = np.stack([xn, yn, np.ones_like(xn)])  # (3, N), NaN where the lens model does not invert
    K = rgb_camera.K
    plan = _DepthPlan(rays=np.ascontiguousarray((K @ rotation @ rays).astype(np.float32)),
                      offset=(K @ translation).astype(np.float32), rgb_size=rgb_shape)
    if rgb_camera.has_distortion:
        # Projection is linear up to the undistorted pixel; the lens displacement is looked up at the nearest
        # undistorted pixel (it varies slowly), so each point is rounded to a raw RGB pixel only once.
        height, width = rgb_shape
        ru, rv = _pixel_grid(height, width)
        xr, yr = rgb_camera.normalize(ru, rv)
        iu, iv = K[0, 0] * xr + K[0, 1] * yr + K[0, 2], K[1, 1] * yr + K[1, 2]
        lo_u = max(np.floor(np.nanmin(iu)) - 2, -2.0 * width)
        lo_v = max(np.floor(np.nanmin(iv)) - 2, -2.0 * height)
        hi_u = min(np.ceil(np.nanmax(iu)) + 3, 3.0 * width)
        hi_v = min(np.ceil(np.nanmax(iv)) + 3, 3.0 * height)
        gu, gv = _pixel_grid(int(hi_v - lo_v), int(hi_u - lo_u))
        gu, gv = gu + lo_u, gv + lo_v
        yn = (gv - K[1, 2]) / K[1, 1]
        xn = (gu - K[0, 2] - K[0, 1] * yn) / K[0, 0]
        pu, pv = rgb_camera.project(xn, yn)  # NaN beyond the lens model: such points are dropped
        plan.lut_origin = (float(lo_u), float(lo_v))
        plan.lut_size = gu.shape
        plan.displacement = ((pu - gu) + 1j * (pv - gv)).astype(np.complex64).ravel()
    return plan


def _reproject_depth(depth: np.ndarray, plan: _DepthPlan, scale: float) -> np.ndarray:
    """Project every valid depth pixel into the RGB image, nearest surface per pixel: (H, W) float32 m."""
    if depth.dtype == np.uint16:
        z = depth.reshape(-1).astype(np.float32)
        z *= np.float32(scale)
        valid = z > 0
    else:
        z = depth.reshape(-1).astype(np.float32, copy=False)
        valid = (z > 0) & (z < np.inf)  # NaN and inf are "no measurement" (NaN fails every comparison)
    # Full-length arithmetic first: gathering the (3, N) rays by an index would cost more than all of it.
    rx, ry, rz = plan.rays
    w = rz * z
    w += plan.offset[2]  # depth in the RGB camera (K's last row is 0 0 1)
    valid &= w > 1e-6  # NaN rays (outside the lens model) fail the comparison
    index = np.flatnonzero(valid)
    z = np.take(z, index)
    w = np.take(w, index)
    inv_w = np.float32(1.0) / w
    u = np.take(rx, index)
    u *= z
    u += plan.offset[0]
    u *= inv_w
    v = np.take(ry, index)
    v *= z
    v += plan.offset[1]
    v *= inv_w
    height, width = plan.rgb_size
    if plan.displacement is not None:
        lut_h, lut_w = plan.lut_size
        cu = np.clip(u - np.float32(plan.lut_origin[0] - 0.5), 0, lut_w - 1).astype(np.int32)
        cv = np.clip(v - np.float32(plan.lut_origin[1] - 0.5), 0, lut_h - 1).astype(np.int32)
        cell = cv * np.int32(lut_w)
        cell += cu
        # Clipped cells sit on the table border, where the displacement sends points outside the image.
        displacement = np.take(plan.displacement, cell)
        u += displacement.real
        v += displacement.imag
    # +0.5 then truncation rounds to the nearest pixel centre; points outside the image (negative, beyond,
    # NaN) go to one spare cell past the end instead of being compacted away.
    u += np.float32(0.5)
    v += np.float32(0.5)
    outside = ~((u >= 0) & (u < width) & (v >= 0) & (v < height))
    with np.errstate(invalid="ignore", over="ignore"):
        pixel = v.astype(np.int32)
        pixel *= np.int32(width)
        pixel += u.astype(np.int32)
    pixel[outside] = height * width
    zbuffer = np.full(height * width + 1, np.inf, dtype=np.float32)
    np.minimum.at(zbuffer, pixel, w)  # nearest surface wins
    zbuffer = zbuffer[:-1]
    zbuffer[zbuffer == np.inf] = 0.0
    return zbuffer.reshape(height, width)
