# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Labelled point clouds: depth registered to the RGB camera, back-projected with class labels and colours.

numpy only. `labeled_points` returns a structured array (one record per valid depth pixel on the stride grid,
row-major order) that `rxssnet_ros.pointcloud_msg.make_pointcloud2` turns into a sensor_msgs/PointCloud2.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from rxssnet_core.camera_geometry import CameraModel
from rxssnet_core.errors import RXSSNetError
from rxssnet_core.visualization import as_palette

POINT_DTYPE = np.dtype([
    ("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
    ("r", "u1"), ("g", "u1"), ("b", "u1"),
    ("label", "<u2"),
])


class PointCloudError(RXSSNetError, ValueError):
    """The inputs of a labelled point cloud are inconsistent; the message names the input."""


def _intrinsics(K: Any) -> CameraModel:
    if isinstance(K, CameraModel):
        return K
    try:
        matrix = np.asarray(K, dtype=np.float64)
    except (TypeError, ValueError):
        raise PointCloudError(f"K must be a 3x3 intrinsic matrix, got {K!r}") from None
    if matrix.size != 9:
        raise PointCloudError(f"K must be a 3x3 intrinsic matrix (9 numbers), got shape {matrix.shape}")
    try:
        return CameraModel(K=matrix.reshape(3, 3), name="K")
    except ValueError as error:  # AlignmentError names what is wrong with K
        raise PointCloudError(str(error)) from None


_RAY_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_RAY_CACHE_SIZE = 4


def _rays(camera: CameraModel, height: int, width: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised ray (X/Z, Y/Z) of each pixel on the stride grid; cached, a node reuses one camera."""
    key = (camera.key(), height, width, stride)
    if key in _RAY_CACHE:
        _RAY_CACHE.move_to_end(key)
        return _RAY_CACHE[key]
    v, u = np.mgrid[0:height:stride, 0:width:stride].astype(np.float64)
    x, y = camera.normalize(u, v)
    rays = (x.astype(np.float32), y.astype(np.float32))
    _RAY_CACHE[key] = rays
    while len(_RAY_CACHE) > _RAY_CACHE_SIZE:
        _RAY_CACHE.popitem(last=False)
    return rays


def labeled_points(depth_m: np.ndarray, labels: np.ndarray, rgb: np.ndarray | None, K: Any, stride: int = 1,
                   palette: Sequence[Sequence[int]] | np.ndarray | None = None,
                   depth_scale_m: float = 0.001) -> np.ndarray:
    """Back-project every valid depth pixel on the stride grid into the RGB camera's optical frame.

    depth_m: (H, W) float depth in metres registered to the RGB image (0, NaN, inf, negative: invalid), or
    integer depth in depth_scale_m units. labels: (H, W) integer class ids. rgb: (H, W, 3) uint8 image colours
    (may be None when a palette is given). K: (3, 3) intrinsics of the RGB camera, or a CameraModel (whose
    distortion is then undone). stride: keep every stride-th row and column. palette: (K, 3) class colours;
    when given, points take their class colour instead of the image colour.
    Returns a structured array of POINT_DTYPE (x, y, z metres; r, g, b; label), rows in row-major pixel order.
    """
    depth_m = _check_array(depth_m, "depth_m", 2)
    labels = _check_array(labels, "labels", 2)
    height, width = depth_m.shape
    if labels.shape != (height, width):
        raise PointCloudError(f"labels shape {labels.shape} differs from depth_m shape {depth_m.shape}")
    if labels.dtype.kind not in "ui":
        raise PointCloudError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if rgb is None and palette is None:
        raise PointCloudError("rgb is None and no palette is given: pass the RGB image or a class palette")
    if rgb is not None:
        rgb = _check_array(rgb, "rgb", 3)
        if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
            raise PointCloudError(
                f"rgb must be (H, W, 3) uint8 matching depth_m {depth_m.shape}, got {rgb.shape} {rgb.dtype}")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise PointCloudError(f"stride must be a positive integer, got {stride!r}")
    camera = _intrinsics(K)
    try:
        camera.check_size(height, width, "depth image")
    except ValueError as error:
        raise PointCloudError(str(error)) from None

    depth = depth_m[::stride, ::stride]
    if depth.dtype.kind in "ui":
        valid = depth > 0
        z = depth[valid].astype(np.float32) * np.float32(depth_scale_m)
    else:
        with np.errstate(invalid="ignore"):
            valid = (depth > 0) & (depth < np.inf)  # NaN compares False
        z = depth[valid].astype(np.float32)
    ray_x, ray_y = _rays(camera, height, width, int(stride))
    label_grid = labels[::stride, ::stride][valid]
    if label_grid.size and (int(label_grid.min()) < 0 or int(label_grid.max()) > 65535):
        raise PointCloudError(
            "labels must lie in [0, 65535] for a uint16 label field, got "
            f"[{label_grid.min()}, {label_grid.max()}]")

    points = np.empty(z.size, dtype=POINT_DTYPE)
    points["x"] = ray_x[valid] * z
    points["y"] = ray_y[valid] * z
    points["z"] = z
    points["label"] = label_grid
    if palette is not None:
        num = max(len(np.asarray(palette).reshape(-1, 3)), int(label_grid.max(initial=0)) + 1)
        colours = as_palette(palette, num)[label_grid.astype(np.int64)]
    else:
        colours = rgb[::stride, ::stride][valid]
    points["r"], points["g"], points["b"] = colours[:, 0], colours[:, 1], colours[:, 2]
    return points


def _check_array(array: Any, name: str, ndim: int) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise PointCloudError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.ndim != ndim or 0 in array.shape:
        raise PointCloudError(f"{name} must be a non-empty {ndim}-D array, got shape {array.shape}")
    return array
