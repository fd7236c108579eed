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

import copy
import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

MODES = ("none", "resize", "homography", "depth")
DISTORTION_COEFFICIENTS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4, "none": 0}
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


class AlignmentError(ValueError):
    """Alignment input or calibration is invalid; the message names the parameter and the fix."""


# ------------------------------------------------------------------------------------------------------------
# Small validators


def _matrix(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
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


def _empty(value: Any) -> bool:
    # ROS array parameters cannot be None: an empty list means "not set".
    return value is None or (isinstance(value, (list, tuple, np.ndarray)) and len(value) == 0)


def _check_homography(value: Any, name: str = "x_homography", normalize: bool = True) -> np.ndarray:
    matrix = _matrix(value, name, (3, 3))
    scale = float(np.abs(matrix).max())
    det = float(np.linalg.det(matrix))
    if scale == 0.0 or abs(det) <= 1e-12 * scale**3:
        raise AlignmentError(
            f"{name} is not invertible (det={det:.3g}); it must map X pixels to RGB pixels one-to-one: "
            "recompute it with `rxssnet calibrate homography` from four or more point pairs not on one line")
    if normalize and abs(matrix[2, 2]) > 1e-12 * scale:
        matrix = matrix / matrix[2, 2]
    return matrix


def _check_rotation(value: Any, name: str = "x_extrinsic_rotation") -> np.ndarray:
    rotation = _matrix(value, name, (3, 3))
    orthogonality = float(np.abs(rotation @ rotation.T - np.eye(3)).max())
    det = float(np.linalg.det(rotation))
    if orthogonality > 1e-3 or abs(det - 1.0) > 1e-3:
        raise AlignmentError(
            f"{name} is not a rotation matrix (max |R R^T - I| = {orthogonality:.3g}, det = {det:.4g}); "
            "give the 3x3 row-major rotation from the X camera optical frame to the RGB camera optical "
            "frame")
    return rotation


def _check_shape(shape: Any, name: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in tuple(shape)[:2])
    except (TypeError, ValueError):
        raise AlignmentError(f"{name} must be (height, width), got {shape!r}") from None
    if height <= 0 or width <= 0:
        raise AlignmentError(f"{name} must be positive (height, width), got {shape!r}")
    return height, width


def default_interpolation(modality: str) -> str:
    """The interpolation used for a modality when none is configured: nearest for depth-like data."""
    return DEFAULT_INTERPOLATION.get(modality, "linear")


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
        height."""
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
        import yaml

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


def _as_camera(camera: Any, role: str) -> CameraModel | None:
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
    rotation = _check_rotation(rotation)
    translation = _matrix(translation, "x_extrinsic_translation", (3,))
    plane = _check_plane(plane_distance_m)
    normal = np.array([0.0, 0.0, 1.0])
    motion = rotation + (np.outer(translation, normal) / plane if math.isfinite(plane) else 0.0)
    H = rgb_camera.K @ motion @ np.linalg.inv(x_camera.K)
    # Not normalised: its sign is physical (w = z_rgb / z_x > 0 in front of both cameras).
    return _check_homography(H, "homography computed from the camera_infos and x_extrinsic", normalize=False)


def _check_plane(value: Any) -> float:
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
    H = _check_homography(H, "fitted homography")
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
        if self.mode not in MODES:
            raise AlignmentError(f"x_alignment={self.mode!r} is unknown; choose one of {', '.join(MODES)}")
        self.homography = None if _empty(self.homography) else _check_homography(self.homography)
        self.extrinsic_rotation = None if _empty(self.extrinsic_rotation) else _check_rotation(
            self.extrinsic_rotation)
        self.extrinsic_translation = None if _empty(self.extrinsic_translation) else _matrix(
            self.extrinsic_translation, "x_extrinsic_translation", (3,))
        if self.plane_distance_m is not None:
            self.plane_distance_m = _check_plane(self.plane_distance_m)
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
        rotation = _check_rotation(rotation)
        translation = _matrix(translation, "x_extrinsic_translation", (3,))
        with self._lock:
            self.config.extrinsic_rotation = rotation
            self.config.extrinsic_translation = translation

    def align(self, x: np.ndarray, rgb_shape: Sequence[int], rgb_camera: CameraModel | Any | None = None,
              x_camera: CameraModel | Any | None = None) -> np.ndarray:
        """X (h, w[, C]) -> X registered to the RGB image, (H, W[, C]) with H, W = rgb_shape[:2]."""
        x = self._check_x(x)
        height, width = _check_shape(rgb_shape, "rgb_shape")
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
        rgb_camera = _as_camera(rgb_camera, "rgb camera_info")
        x_camera = _as_camera(x_camera, "x camera_info")
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
