# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Camera geometry for real rigs: pinhole camera models with lens distortion, and homographies between cameras.

`CameraModel` holds what a sensor_msgs/CameraInfo holds (K, D, distortion model, size) and projects,
normalises, distorts and undistorts pixel coordinates (plumb_bob, rational_polynomial, equidistant).
`homography_from_cameras` gives the X-to-RGB homography of a scene plane from both models and the extrinsic;
`fit_homography` fits one to point pairs (RANSAC), `reprojection_errors` checks it. numpy and OpenCV only.

Conventions: pixel centres are integers (OpenCV and ROS `CameraInfo`); the extrinsic (R, t) maps points of the X
camera's optical frame to the RGB camera's optical frame: ``p_rgb = R @ p_x + t`` (metres). Every validator
raises `AlignmentError` with the parameter's name and the fix.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import yaml

from rxssnet_core.errors import RXSSNetError

DISTORTION_COEFFICIENTS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4, "none": 0}


class AlignmentError(RXSSNetError, ValueError):
    """Alignment input or calibration is invalid; the message names the parameter and the fix."""


# ------------------------------------------------------------------------------------------------------------
# Small validators


def as_matrix(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """`value` as a finite float64 array of `shape` (a flat list of the right length is accepted too)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise AlignmentError(f"{name} must be numbers of shape {shape}, got {value!r} ({error})") from None
    size = int(np.prod(shape))
    if array.shape != shape:
        if array.size == size and array.ndim == 1:
            array = array.reshape(shape)
        else:
            raise AlignmentError(
                f"{name} must have shape {shape} (or {size} numbers, row-major), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise AlignmentError(f"{name} contains NaN or inf: {array.tolist()}")
    return array


def is_empty(value: Any) -> bool:
    # ROS array parameters cannot be None: an empty list means "not set".
    return value is None or (isinstance(value, (list, tuple, np.ndarray)) and len(value) == 0)


def check_homography(value: Any, name: str = "x_homography", normalize: bool = True) -> np.ndarray:
    matrix = as_matrix(value, name, (3, 3))
    scale = float(np.abs(matrix).max())
    det = float(np.linalg.det(matrix))
    if scale == 0.0 or abs(det) <= 1e-12 * scale**3:
        raise AlignmentError(
            f"{name} is not invertible (det={det:.3g}); it must map X pixels to RGB pixels one-to-one: "
            "recompute it with `rxssnet calibrate homography` from four or more point pairs not on one line")
    if normalize and abs(matrix[2, 2]) > 1e-12 * scale:
        matrix = matrix / matrix[2, 2]
    return matrix


def check_rotation(value: Any, name: str = "x_extrinsic_rotation") -> np.ndarray:
    rotation = as_matrix(value, name, (3, 3))
    orthogonality = float(np.abs(rotation @ rotation.T - np.eye(3)).max())
    det = float(np.linalg.det(rotation))
    if orthogonality > 1e-3 or abs(det - 1.0) > 1e-3:
        raise AlignmentError(
            f"{name} is not a rotation matrix (max |R R^T - I| = {orthogonality:.3g}, det = {det:.4g}); "
            "give the 3x3 row-major rotation from the X camera optical frame to the RGB camera optical "
            "frame")
    return rotation


def check_shape(shape: Any, name: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in tuple(shape)[:2])
    except (TypeError, ValueError):
        raise AlignmentError(f"{name} must be (height, width), got {shape!r}") from None
    if height <= 0 or width <= 0:
        raise AlignmentError(f"{name} must be positive (height, width), got {shape!r}")
    return height, width


# ------------------------------------------------------------------------------------------------------------
# Camera model


@dataclass
class CameraModel:
    """A pinhole camera with lens distortion, as in sensor_msgs/CameraInfo.

    K: (3, 3) intrinsics [[fx, s, cx], [0, fy, cy], [0, 0, 1]]. D: distortion coefficients, (5,) plumb_bob
    (k1 k2 p1 p2 k3), (8,) rational_polynomial (k1 k2 p1 p2 k3 k4 k5 k6), (4,) equidistant (k1 k2 k3 k4),
    empty for none. width, height: image size in pixels (0: unknown, not checked). name: how errors call this
    camera ("x camera_info", "rgb camera_info").
    """

    K: Any
    D: Any = ()
    distortion_model: str = "none"
    width: int = 0
    height: int = 0
    name: str = "camera_info"

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64) if not isinstance(self.K, np.ndarray) else self.K.astype(
            np.float64)
        if K.size != 9:
            raise AlignmentError(f"{self.name} k must have 9 numbers (3x3 row-major), got {K.size}")
        K = K.reshape(3, 3)
        if not np.all(np.isfinite(K)):
            raise AlignmentError(f"{self.name} k contains NaN or inf: {K.ravel().tolist()}")
        for index, label in ((0, "k[0]"), (4, "k[4]")):
            if K.flat[index] <= 0:
                problem = "zero" if K.flat[index] == 0 else "negative"
                raise AlignmentError(
                    f"{self.name} has {problem} focal length ({label}={K.flat[index]:g}); the camera is not "
                    "calibrated: calibrate it (ros2 run camera_calibration cameracalibrator) and publish "
                    "the result")
        if abs(K[2, 0]) > 1e-9 or abs(K[2, 1]) > 1e-9 or abs(K[2, 2] - 1.0) > 1e-9 or abs(K[1, 0]) > 1e-9:
            raise AlignmentError(
                f"{self.name} k must be [fx, s, cx, 0, fy, cy, 0, 0, 1], got {K.ravel().tolist()}")
        D = np.asarray(self.D if self.D is not None else (), dtype=np.float64).ravel()
        if not np.all(np.isfinite(D)):
            raise AlignmentError(f"{self.name} d contains NaN or inf: {D.tolist()}")
        model = str(self.distortion_model or "").strip()
        if model == "":
            # Uncalibrated drivers publish an empty model; that is only acceptable without coefficients.
            if np.any(D != 0):
                raise AlignmentError(
                    f"{self.name} has distortion coefficients {D.tolist()} but an empty distortion_model; "
                    "set distortion_model to plumb_bob, rational_polynomial or equidistant")
            model = "none"
        if model not in DISTORTION_COEFFICIENTS:
            raise AlignmentError(
                f"{self.name} distortion_model {model!r} is not supported; use plumb_bob, "
                "rational_polynomial or equidistant")
        expected = DISTORTION_COEFFICIENTS[model]
        if model == "none":
            if np.any(D != 0):
                raise AlignmentError(
                    f"mismatched distortion model: {self.name} distortion_model 'none' needs no "
                    f"coefficients, got {D.tolist()}")
            D = np.zeros(0)
        elif D.size == 0:
            D = np.zeros(expected)  # calibrated without distortion
        elif D.size != expected:
            raise AlignmentError(
                f"mismatched distortion model: {model} needs {expected} coefficients, got {D.size} "
                f"({self.name} d={D.tolist()})")
        for attr in ("width", "height"):
            value = getattr(self, attr)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise AlignmentError(f"{self.name} {attr} must be a non-negative integer, got {value!r}")
        self.K, self.D, self.distortion_model = K, D, model
        self.width, self.height = int(self.width), int(self.height)
        self._max_radius = _max_monotonic_radius(model, D)

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_camera_info(cls, msg: Any, name: str = "camera_info") -> CameraModel:
        """From sensor_msgs/CameraInfo (rclpy or rosbags), or anything with k, d, distortion_model, width,
        height.
        """
        def field_of(*names: str) -> Any:
            for candidate in names:
                if hasattr(msg, candidate):
                    return getattr(msg, candidate)
                if isinstance(msg, Mapping) and candidate in msg:
                    return msg[candidate]
            raise AlignmentError(f"{name} has no field {names[0]!r}; pass a sensor_msgs/CameraInfo")
        return cls(K=list(field_of("k", "K")), D=list(field_of("d", "D")),
                   distortion_model=field_of("distortion_model"), width=int(field_of("width")),
                   height=int(field_of("height")), name=name)

    @classmethod
    def from_yaml(cls, path: str, name: str | None = None) -> CameraModel:
        """From a camera calibration file.

        Either camera_calibration's format (camera_matrix, distortion_coefficients, image_width, image_height)
        or a CameraInfo dump (`ros2 topic echo --once .../camera_info`: k, d, width, height).
        """
        label = name or str(path)
        try:
            with open(path, encoding="utf-8") as stream:
                data = yaml.safe_load(stream)
        except OSError as error:
            raise AlignmentError(f"camera calibration file {path} cannot be read: {error}") from None
        except yaml.YAMLError as error:
            raise AlignmentError(f"camera calibration file {path} is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise AlignmentError(
                f"camera calibration file {path} must hold a mapping, got {type(data).__name__}")
        if "camera_matrix" in data:
            def data_of(key: str) -> Any:
                entry = data.get(key)
                if not isinstance(entry, dict) or "data" not in entry:
                    raise AlignmentError(
                        f"camera calibration file {path}: key {key!r} must have a 'data' list")
                return entry["data"]
            return cls(K=data_of("camera_matrix"), D=data_of("distortion_coefficients"),
                       distortion_model=data.get("distortion_model", "plumb_bob"),
                       width=int(data.get("image_width", 0)), height=int(data.get("image_height", 0)),
                       name=label)
        if "k" in data:
            return cls(K=data["k"], D=data.get("d", ()), distortion_model=data.get("distortion_model", ""),
                       width=int(data.get("width", 0)), height=int(data.get("height", 0)), name=label)
        raise AlignmentError(
            f"camera calibration file {path} has neither 'camera_matrix' (camera_calibration format) nor "
            "'k' (CameraInfo dump)")

    def renamed(self, name: str) -> CameraModel:
        """The same camera, named `name` in error messages."""
        return dataclasses.replace(self, name=name)

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.D != 0))

    def key(self) -> tuple:
        """A hashable identity, used to cache maps built from this camera."""
        return (self.K.tobytes(), self.D.tobytes(), self.distortion_model, self.width, self.height)

    def check_size(self, height: int, width: int, image: str) -> None:
        """Raise if the calibration was made for another image size."""
        if self.width and self.height and (self.width, self.height) != (width, height):
            raise AlignmentError(
                f"{self.name} is for {self.width}x{self.height} images but the {image} is {width}x{height} "
                "(width x height); use the camera_info published with these images, or recalibrate at this "
                "size")

    # -- projection ------------------------------------------------------------------------------------------

    def distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised undistorted -> normalised distorted coordinates (NaN beyond the lens model)."""
        xd, yd = _distort(self.distortion_model, self.D, x, y)
        if self._max_radius is not None:
            # Past the radius where the polynomial turns back, a far-outside point would fold into the image.
            beyond = (x * x + y * y) > self._max_radius**2
            xd = np.where(beyond, np.nan, xd)
            yd = np.where(beyond, np.nan, yd)
        return xd, yd

    def undistort(self, xd: np.ndarray, yd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised distorted -> normalised undistorted coordinates (NaN where it does not invert)."""
        return _undistort(self, xd, yd)

    def project(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised undistorted coordinates (X/Z, Y/Z) -> raw image pixels (u, v)."""
        if self.has_distortion:
            x, y = self.distort(x, y)
        K = self.K
        return K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]

    def normalize(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw image pixels (u, v) -> normalised undistorted coordinates (X/Z, Y/Z), NaN if not invertible."""
        K = self.K
        yd = (v - K[1, 2]) / K[1, 1]
        xd = (u - K[0, 2] - K[0, 1] * yd) / K[0, 0]
        return self.undistort(xd, yd) if self.has_distortion else (xd, yd)


def _distort(model: str, D: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if model == "none" or not np.any(D != 0):
        return x, y
    if model == "equidistant":
        k1, k2, k3, k4 = D
        r = np.hypot(x, y)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
        return x * scale, y * scale
    k1, k2, p1, p2, k3 = D[:5]
    k4, k5, k6 = D[5:8] if D.size >= 8 else (0.0, 0.0, 0.0)
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd


def _max_monotonic_radius(model: str, D: np.ndarray) -> float | None:
    """Largest undistorted radius r = |(x, y)| up to which the radial model increases (None: everywhere)."""
    if model == "none" or not np.any(D != 0):
        return None
    if model == "equidistant":
        radius = np.tan(np.linspace(0.0, np.pi / 2, 4001)[1:-1])
    else:
        radius = np.linspace(0.0, 20.0, 4001)[1:]
    distorted, _ = _distort(model, D, radius, np.zeros_like(radius))
    turning = np.flatnonzero((np.diff(distorted) <= 0) | ~np.isfinite(distorted[1:]))
    return float(radius[turning[0]]) if turning.size else None


def _undistort(camera: CameraModel, xd: np.ndarray, yd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xd = np.asarray(xd, dtype=np.float64)
    yd = np.asarray(yd, dtype=np.float64)
    if camera.distortion_model == "equidistant":
        # Radial only: solve theta (1 + k1 theta^2 + ... + k4 theta^8) = theta_d by Newton in one dimension.
        k1, k2, k3, k4 = camera.D
        theta_d = np.hypot(xd, yd)
        theta = theta_d.copy()
        for _ in range(30):
            t2 = theta * theta
            f = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
            step = f / np.where(np.abs(df) > 1e-12, df, 1e-12)
            theta = theta - step
            if np.nanmax(np.abs(step), initial=0.0) < 1e-12:
                break
        t2 = theta * theta
        residual = np.abs(theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d)
        ok = (residual < 1e-9) & (theta >= 0) & (theta < np.pi / 2 - 1e-6)
        if camera._max_radius is not None:
            ok &= np.tan(np.clip(theta, 0, np.pi / 2 - 1e-6)) <= camera._max_radius
        radius = np.tan(np.clip(theta, 0, np.pi / 2 - 1e-6))
        scale = np.where(theta_d > 1e-12, radius / np.maximum(theta_d, 1e-12), 1.0)
        return np.where(ok, xd * scale, np.nan), np.where(ok, yd * scale, np.nan)
    # plumb_bob / rational_polynomial: Newton's method on the 2-D map, with a finite-difference Jacobian.
    x, y = xd.copy(), yd.copy()
    eps = 1e-7
    for _ in range(30):
        fx, fy = _distort(camera.distortion_model, camera.D, x, y)
        rx, ry = fx - xd, fy - yd
        ax, ay = _distort(camera.distortion_model, camera.D, x + eps, y)
        bx, by = _distort(camera.distortion_model, camera.D, x, y + eps)
        j11, j21 = (ax - fx) / eps, (ay - fy) / eps
        j12, j22 = (bx - fx) / eps, (by - fy) / eps
        det = j11 * j22 - j12 * j21
        det = np.where(np.abs(det) > 1e-12, det, 1e-12)
        dx = (j22 * rx - j12 * ry) / det
        dy = (j11 * ry - j21 * rx) / det
        x, y = x - dx, y - dy
        if np.nanmax(np.abs(dx) + np.abs(dy), initial=0.0) < 1e-12:
            break
    fx, fy = _distort(camera.distortion_model, camera.D, x, y)
    ok = np.hypot(fx - xd, fy - yd) < 1e-8
    if camera._max_radius is not None:
        ok &= (x * x + y * y) <= camera._max_radius**2
    return np.where(ok, x, np.nan), np.where(ok, y, np.nan)


def as_camera(camera: Any, role: str) -> CameraModel | None:
    """A CameraModel named for its role, from a CameraModel or a CameraInfo-like message."""
    if camera is None:
        return None
    if isinstance(camera, CameraModel):
        if camera.name == role:
            return camera
        named = copy.copy(camera)  # already validated: skip __post_init__, only the name in messages changes
        named.name = role
        return named
    return CameraModel.from_camera_info(camera, name=role)


# ------------------------------------------------------------------------------------------------------------
# Geometry helpers (public: the calibrate command and the tests use them)


def homography_from_cameras(rgb_camera: CameraModel, x_camera: CameraModel, rotation: Any, translation: Any,
                            plane_distance_m: float) -> np.ndarray:
    """The homography from undistorted X pixels to undistorted RGB pixels induced by a plane.

    The plane is fronto-parallel to the X camera at distance d (n = (0, 0, 1), n^T p_x = d in the X frame), so
    a point on it moves as p_rgb = R p_x + t = (R + t n^T / d) p_x and
    H = K_rgb (R + t n^T / d) K_x^-1. (Textbooks write R - t n^T / d for the plane n^T p + d = 0.)
    d = inf gives the infinite homography K_rgb R K_x^-1 (far scenes).
    """
    rotation = check_rotation(rotation)
    translation = as_matrix(translation, "x_extrinsic_translation", (3,))
    plane = check_plane(plane_distance_m)
    normal = np.array([0.0, 0.0, 1.0])
    motion = rotation + (np.outer(translation, normal) / plane if math.isfinite(plane) else 0.0)
    H = rgb_camera.K @ motion @ np.linalg.inv(x_camera.K)
    # Not normalised: its sign is physical (w = z_rgb / z_x > 0 in front of both cameras).
    return check_homography(H, "homography computed from the camera_infos and x_extrinsic", normalize=False)


def check_plane(value: Any) -> float:
    try:
        plane = float(value)
    except (TypeError, ValueError):
        raise AlignmentError(f"alignment_plane_m must be a distance in metres, got {value!r}") from None
    if math.isnan(plane) or plane <= 0:
        raise AlignmentError(
            f"alignment_plane_m={value!r} must be > 0: the distance in metres from the X camera to the "
            "scene plane that the homography is exact for (inf for a far scene)")
    return plane


def fit_homography(x_points: np.ndarray, rgb_points: np.ndarray, ransac_threshold: float = 3.0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit H (X pixels -> RGB pixels) to N >= 4 point pairs.

    x_points, rgb_points: (N, 2). With N > 4 and ransac_threshold > 0, RANSAC with that reprojection threshold
    (pixels) rejects outliers. Returns (H (3, 3), reprojection error per pair in RGB pixels (N,),
    inlier mask (N,)).
    """
    x_points = np.asarray(x_points, dtype=np.float64).reshape(-1, 2)
    rgb_points = np.asarray(rgb_points, dtype=np.float64).reshape(-1, 2)
    if len(x_points) != len(rgb_points):
        raise AlignmentError(f"point pairs: {len(x_points)} X points but {len(rgb_points)} RGB points")
    if len(x_points) < 4:
        raise AlignmentError(f"a homography needs at least 4 point pairs, got {len(x_points)}")
    if not (np.all(np.isfinite(x_points)) and np.all(np.isfinite(rgb_points))):
        raise AlignmentError("point pairs contain NaN or inf")
    for points, label in ((x_points, "X"), (rgb_points, "RGB")):
        _check_spread(points, label)
    use_ransac = len(x_points) > 4 and ransac_threshold > 0
    H, mask = cv2.findHomography(x_points, rgb_points, cv2.RANSAC if use_ransac else 0,
                                 float(ransac_threshold) if use_ransac else 3.0)
    if H is None:
        raise AlignmentError(
            "no homography fits these point pairs; check that each X point matches its RGB point")
    H = check_homography(H, "fitted homography")
    errors = reprojection_errors(H, x_points, rgb_points)
    inliers = np.ones(len(errors), dtype=bool)
    if use_ransac and mask is not None:
        inliers = mask.ravel().astype(bool)
    if inliers.sum() < 4:
        raise AlignmentError(
            f"only {int(inliers.sum())} point pairs agree within --ransac-threshold {ransac_threshold} px; "
            "check the pairs or raise the threshold")
    return H, errors, inliers


def _check_spread(points: np.ndarray, label: str) -> None:
    centred = points - points.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular[0] < 1e-9 or singular[1] / singular[0] < 1e-3:
        raise AlignmentError(
            f"the {label} points lie on one line (or on one point); a homography needs four or more points "
            "spread over the image, no three of them on a line")
    if len(np.unique(np.round(points, 6), axis=0)) < 4:
        raise AlignmentError(f"the {label} points have fewer than 4 distinct positions; pick distinct points")


def reprojection_errors(H: np.ndarray, x_points: np.ndarray, rgb_points: np.ndarray) -> np.ndarray:
    """|H x - rgb| in pixels for each pair (N,)."""
    points = np.asarray(x_points, dtype=np.float64).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(points, H).reshape(-1, 2)
    return np.linalg.norm(mapped - np.asarray(rgb_points, dtype=np.float64).reshape(-1, 2), axis=1)
