# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/PointCloud2 from labelled points (rxssnet_core.pointcloud), built with numpy.

Layout (20 bytes per point, little-endian, unorganised cloud of height 1):
x, y, z float32 at 0, 4, 8; rgb float32 at 12 holding 0x00RRGGBB as PCL and rviz's RGB8 transformer expect;
label uint16 at 16; 2 padding bytes keep every point 4-byte aligned.

We do not call sensor_msgs_py's `create_cloud`: its behaviour differs between ROS distributions (older ones
assume one datatype for all fields and would mis-pack the uint16 label; all set is_dense=False), while one
numpy structured array gives the same bytes everywhere and needs no extra package. The tests decode our
messages with sensor_msgs_py's `read_points` when it is importable.
"""

from __future__ import annotations

import array
from collections.abc import Mapping
from typing import Any

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from rxssnet_core.pointcloud import POINT_DTYPE

CLOUD_DTYPE = np.dtype({
    "names": ["x", "y", "z", "rgb", "label"],
    "formats": ["<f4", "<f4", "<f4", "<u4", "<u2"],
    "offsets": [0, 4, 8, 12, 16],
    "itemsize": 20,
})
POINT_STEP = CLOUD_DTYPE.itemsize
_FIELD_TYPES = {"x": PointField.FLOAT32, "y": PointField.FLOAT32, "z": PointField.FLOAT32,
                "rgb": PointField.FLOAT32, "label": PointField.UINT16}
_DECODE_TYPES = {PointField.FLOAT32: "<f4", PointField.UINT16: "<u2", PointField.UINT32: "<u4",
                 PointField.INT32: "<i4", PointField.UINT8: "u1", PointField.INT8: "i1", PointField.INT16: "<i2",
                 PointField.FLOAT64: "<f8"}


def pointcloud_fields() -> list[PointField]:
    """The PointField list of our layout."""
    return [PointField(name=name, offset=CLOUD_DTYPE.fields[name][1], datatype=_FIELD_TYPES[name], count=1)
            for name in CLOUD_DTYPE.names]


def pack_points(points: Any) -> np.ndarray:
    """Labelled points (structured array or mapping with x, y, z, r, g, b, label) -> CLOUD_DTYPE records."""
    required = ("x", "y", "z", "r", "g", "b", "label")
    if isinstance(points, np.ndarray) and points.dtype.names is not None:
        names = points.dtype.names
    elif isinstance(points, Mapping):
        names = tuple(points)
    else:
        raise TypeError(
            f"points must be the structured array from rxssnet_core.pointcloud.labeled_points or a mapping of "
            f"arrays, got {type(points).__name__}")
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"points lack the field(s) {missing}; expected {list(required)}")
    count = len(points["x"])
    if any(len(points[name]) != count for name in required):
        raise ValueError(f"points fields have different lengths: { {n: len(points[n]) for n in required} }")
    packed = np.zeros(count, dtype=CLOUD_DTYPE)
    for name in ("x", "y", "z"):
        packed[name] = points[name]
    packed["rgb"] = ((np.asarray(points["r"], dtype=np.uint32) << 16)
                     | (np.asarray(points["g"], dtype=np.uint32) << 8)
                     | np.asarray(points["b"], dtype=np.uint32))
    packed["label"] = points["label"]
    return packed


def make_pointcloud2(header: Any, points: Any) -> PointCloud2:
    """A sensor_msgs/PointCloud2 (height 1, dense) with fields x, y, z, rgb, label from labelled points."""
    packed = pack_points(points)
    finite = bool(np.all(np.isfinite(packed["x"])) and np.all(np.isfinite(packed["y"]))
                  and np.all(np.isfinite(packed["z"])))
    msg = PointCloud2()
    msg.header = header
    msg.height = 1
    msg.width = int(packed.size)
    msg.fields = pointcloud_fields()
    msg.is_bigendian = False
    msg.point_step = POINT_STEP
    msg.row_step = POINT_STEP * int(packed.size)
    # array.array is the message's own storage type: assigning it skips a per-byte Python check.
    msg.data = array.array("B", packed.tobytes())
    msg.is_dense = finite
    return msg


def read_pointcloud2(msg: Any) -> np.ndarray:
    """Decode a PointCloud2 (any field layout with x, y, z, rgb, label) back to x, y, z, r, g, b, label."""
    formats = {}
    for point_field in msg.fields:
        if point_field.datatype not in _DECODE_TYPES:
            raise ValueError(
                f"PointCloud2 field {point_field.name!r} has unsupported datatype {point_field.datatype}")
        formats[point_field.name] = (point_field.offset, _DECODE_TYPES[point_field.datatype])
    missing = [name for name in ("x", "y", "z", "rgb", "label") if name not in formats]
    if missing:
        raise ValueError(f"PointCloud2 lacks the field(s) {missing}")
    byteorder = ">" if msg.is_bigendian else "<"
    dtype = np.dtype({
        "names": list(formats),
        "formats": [fmt.replace("<", byteorder) for _, fmt in formats.values()],
        "offsets": [offset for offset, _ in formats.values()],
        "itemsize": msg.point_step,
    })
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    rows = raw.reshape(msg.height, msg.row_step)[:, : msg.width * msg.point_step]
    records = np.ascontiguousarray(rows).view(dtype).reshape(-1)
    rgb = records["rgb"].view(np.uint32) if records["rgb"].dtype.kind == "f" else records["rgb"]
    rgb = rgb.astype(np.uint32)
    out = np.empty(records.size, dtype=POINT_DTYPE)
    for name in ("x", "y", "z", "label"):
        out[name] = records[name]
    out["r"], out["g"], out["b"] = (rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255
    return out


__all__ = ["CLOUD_DTYPE", "POINT_STEP", "make_pointcloud2", "pack_points", "pointcloud_fields",
           "read_pointcloud2"]
