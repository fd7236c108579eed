# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Labelled point clouds and their sensor_msgs/PointCloud2 messages, on a generated frame."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.camera_geometry import CameraModel
from rxssnet_core.pointcloud import POINT_DTYPE, PointCloudError, labeled_points

K = np.array([[50.0, 0.0, 15.5], [0.0, 52.0, 11.5], [0.0, 0.0, 1.0]])
PALETTE = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]


@pytest.fixture
def frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 24x32 frame: depth with every kind of invalid value, labels 0..4, random colours."""
    rng = np.random.default_rng(7)
    depth = rng.uniform(0.5, 6.0, size=(24, 32)).astype(np.float32)
    depth[rng.random((24, 32)) < 0.15] = 0.0
    depth[3, 4], depth[5, 9], depth[6, 2], depth[9, 12] = np.nan, np.inf, -1.0, -np.inf
    labels = rng.integers(0, 5, size=(24, 32)).astype(np.uint8)
    rgb = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    return depth, labels, rgb


def expected_points(depth, labels, rgb, stride, palette=None) -> list[tuple]:
    """The cloud written out pixel by pixel, as a reference for the vectorised code."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    points = []
    for v in range(0, depth.shape[0], stride):
        for u in range(0, depth.shape[1], stride):
            z = float(depth[v, u])
            if not (np.isfinite(z) and z > 0):
                continue
            colour = palette[labels[v, u]] if palette is not None else rgb[v, u]
            points.append(((u - cx) * z / fx, (v - cy) * z / fy, z, *map(int, colour), int(labels[v, u])))
    return points


@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("use_palette", [False, True])
def test_labeled_points_match_the_pixel_by_pixel_reference(frame, stride, use_palette) -> None:
    depth, labels, rgb = frame
    palette = PALETTE if use_palette else None
    points = labeled_points(depth, labels, rgb, K, stride=stride, palette=palette)
    reference = expected_points(depth, labels, rgb, stride, palette)
    grid = depth[::stride, ::stride]
    assert points.dtype == POINT_DTYPE
    assert len(points) == len(reference) == int((np.isfinite(grid) & (grid > 0)).sum())
    reference = np.array(reference)
    np.testing.assert_allclose(points["x"], reference[:, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(points["y"], reference[:, 1], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(points["z"], reference[:, 2].astype(np.float32))
    for index, name in enumerate(("r", "g", "b", "label"), start=3):
        np.testing.assert_array_equal(points[name], reference[:, index].astype(points[name].dtype))


def test_integer_depth_uses_the_scale(frame) -> None:
    depth, labels, rgb = frame
    millimetres = np.where(np.isfinite(depth) & (depth > 0), np.rint(depth * 1000), 0).astype(np.uint16)
    points = labeled_points(millimetres, labels, rgb, K, depth_scale_m=0.001)
    assert len(points) == int((millimetres > 0).sum())
    np.testing.assert_allclose(points["z"], millimetres[millimetres > 0] / 1000.0, rtol=1e-6)


def test_distorted_camera_points_reproject_to_their_pixels() -> None:
    camera = CameraModel(K=K, D=[-0.2, 0.05, 0.001, 0.0, 0.0], distortion_model="plumb_bob", width=32, height=24)
    depth = np.full((24, 32), 2.0, dtype=np.float32)
    points = labeled_points(depth, np.zeros((24, 32), np.uint16), None, camera, stride=2, palette=PALETTE)
    u, v = camera.project(points["x"] / points["z"], points["y"] / points["z"])
    grid_v, grid_u = np.mgrid[0:24:2, 0:32:2]
    np.testing.assert_allclose(u, grid_u.ravel(), atol=1e-3)
    np.testing.assert_allclose(v, grid_v.ravel(), atol=1e-3)


@pytest.mark.parametrize(("change", "expected"), [
    ({"labels": np.zeros((10, 10), np.uint8)}, "labels shape (10, 10) differs from depth_m shape (24, 32)"),
    ({"labels": np.zeros((24, 32), np.float32)}, "labels must be integer class ids"),
    ({"labels": np.full((24, 32), 70000, np.int32)}, "labels must lie in [0, 65535]"),
    ({"rgb": np.zeros((24, 32, 3), np.float32)}, "rgb must be (H, W, 3) uint8"),
    ({"rgb": None}, "rgb is None and no palette is given"),
    ({"K": np.eye(2)}, "K must be a 3x3 intrinsic matrix"),
    ({"K": np.zeros((3, 3))}, "K has zero focal length (k[0]=0)"),
    ({"stride": 0}, "stride must be a positive integer"),
    ({"K": CameraModel(K=K, width=64, height=48, name="rgb camera_info")},
     "rgb camera_info is for 64x48 images but the depth image is 32x24"),
    ({"depth_m": np.zeros((24, 32, 1), np.float32)}, "depth_m must be a non-empty 2-D array"),
])
def test_bad_inputs_name_the_argument(frame, change, expected) -> None:
    depth, labels, rgb = frame
    arguments = {"depth_m": depth, "labels": labels, "rgb": rgb, "K": K, "stride": 1}
    arguments.update(change)
    with pytest.raises(PointCloudError) as error:
        labeled_points(**arguments)
    assert expected in str(error.value)


# ---------------------------------------------------------------------------------------------------------------
# sensor_msgs/PointCloud2


def decode_with_numpy(msg) -> np.ndarray:
    """Decode exactly as a generic consumer would: from the message's own field descriptions."""
    from sensor_msgs.msg import PointField

    types = {PointField.FLOAT32: "<f4", PointField.UINT16: "<u2"}
    dtype = np.dtype({"names": [f.name for f in msg.fields], "formats": [types[f.datatype] for f in msg.fields],
                      "offsets": [f.offset for f in msg.fields], "itemsize": msg.point_step})
    return np.frombuffer(bytes(msg.data), dtype=dtype)


def test_pointcloud2_fields_layout_and_values_decode_back(frame) -> None:
    pytest.importorskip("sensor_msgs.msg")
    from sensor_msgs.msg import PointField
    from std_msgs.msg import Header

    from rxssnet_ros.pointcloud_msg import make_pointcloud2, read_pointcloud2

    depth, labels, rgb = frame
    points = labeled_points(depth, labels, rgb, K, stride=2, palette=PALETTE)
    header = Header(frame_id="rgb_camera_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = make_pointcloud2(header, points)

    assert msg.header.frame_id == "rgb_camera_optical_frame" and msg.header.stamp.nanosec == 345
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1), ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1), ("label", 16, PointField.UINT16, 1)]
    assert msg.height == 1 and msg.width == len(points) > 0
    assert msg.point_step == 20 and msg.row_step == 20 * len(points) and len(msg.data) == msg.row_step
    assert msg.is_dense is True and msg.is_bigendian is False

    decoded = decode_with_numpy(msg)
    for name in ("x", "y", "z", "label"):
        np.testing.assert_array_equal(decoded[name], points[name])
    packed = decoded["rgb"].view(np.uint32)  # PCL's packing: 0x00RRGGBB in the bits of a float32
    np.testing.assert_array_equal((packed >> 16) & 255, points["r"])
    np.testing.assert_array_equal((packed >> 8) & 255, points["g"])
    np.testing.assert_array_equal(packed & 255, points["b"])
    assert (packed >> 24).max() == 0
    np.testing.assert_array_equal(read_pointcloud2(msg), points)


def test_pointcloud2_survives_serialization_and_reads_with_sensor_msgs_py(frame) -> None:
    pytest.importorskip("sensor_msgs.msg")
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    from rxssnet_ros.pointcloud_msg import make_pointcloud2, read_pointcloud2

    depth, labels, rgb = frame
    points = labeled_points(depth, labels, rgb, K)
    msg = deserialize_message(serialize_message(make_pointcloud2(Header(frame_id="cam"), points)), PointCloud2)
    np.testing.assert_array_equal(read_pointcloud2(msg), points)
    try:
        from sensor_msgs_py import point_cloud2
    except ImportError:
        return  # not installed with the PyPI wheels; present on a real ROS install
    if not hasattr(point_cloud2, "read_points_numpy"):
        return  # before Humble, read_points yields tuples
    standard = point_cloud2.read_points(msg, field_names=("x", "y", "z", "label"))
    np.testing.assert_array_equal(np.asarray(standard["z"]).ravel(), points["z"])
    np.testing.assert_array_equal(np.asarray(standard["label"]).ravel(), points["label"])


def test_empty_cloud_is_a_valid_message() -> None:
    pytest.importorskip("sensor_msgs.msg")
    from std_msgs.msg import Header

    from rxssnet_ros.pointcloud_msg import make_pointcloud2, read_pointcloud2

    points = labeled_points(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint8), None, K, palette=PALETTE)
    msg = make_pointcloud2(Header(), points)
    assert len(points) == 0 and msg.width == 0 and msg.row_step == 0 and len(msg.data) == 0
    assert len(read_pointcloud2(msg)) == 0
