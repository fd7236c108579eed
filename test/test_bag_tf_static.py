# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The extrinsic X -> RGB from a bag's /tf_static: the transform chain, and alignment equal to the parameters'.

A robot records its cameras' frames as a tree (base_link -> rgb_link -> rgb_optical, base_link -> x_optical);
the extrinsic is the composed chain x_optical -> rgb_optical. Registering X with it must give, pixel for pixel,
what the same extrinsic given as options gives, and `bag eval` must score both ways identically.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import CameraModel
from rxssnet_core.transforms import quaternion_from_rotation, rotation_from_quaternion
from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_source import BagSource
from rxssnet_ros.bag_tools.bag_writer import BagWriter, get_typestore, pinhole_camera_info
from rxssnet_ros.bag_tools.issues import IssueLog
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, evaluate_bag
from rxssnet_ros.bag_tools.tf_from_bag import TransformError, TransformTree, tree_from_bag, write_tf_static

RGB_SIZE, X_SIZE = (48, 64), (40, 50)
STAMP0 = 1_800_000_000 * 10**9


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]), "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _matrix(rotation: np.ndarray, translation) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, translation
    return matrix


# The extrinsic of the rig: p_rgb = R p_x + t (X optical frame -> RGB optical frame).
EXTRINSIC_R = _rotation("y", 4.0) @ _rotation("x", -2.5)
EXTRINSIC_T = np.array([0.12, -0.03, 0.01])
# How the robot description places the cameras: base_link -> rgb_link -> rgb_optical, base_link -> x_optical.
OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # REP 103 optical axes in the link
BASE_RGB_LINK = _matrix(_rotation("z", 20.0), [0.3, 0.05, 0.8])
RGB_LINK_OPTICAL = _matrix(OPTICAL, [0.0, 0.02, 0.0])
BASE_X_OPTICAL = BASE_RGB_LINK @ RGB_LINK_OPTICAL @ _matrix(EXTRINSIC_R, EXTRINSIC_T)


def _edges() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    return [("base_link", "rgb_link", BASE_RGB_LINK[:3, :3], BASE_RGB_LINK[:3, 3]),
            ("rgb_link", "rgb_optical", RGB_LINK_OPTICAL[:3, :3], RGB_LINK_OPTICAL[:3, 3]),
            ("base_link", "x_optical", BASE_X_OPTICAL[:3, :3], BASE_X_OPTICAL[:3, 3])]


def test_quaternion_round_trip_and_chain_lookup() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        rotation = rotation_from_quaternion(*q)
        back = np.array(quaternion_from_rotation(rotation))
        assert np.allclose(back, q * np.sign(q[3]), atol=1e-12)
    tree = TransformTree()
    for parent, child, rotation, translation in _edges():
        tree.add(parent, child, rotation, translation)
    rotation, translation = tree.lookup("rgb_optical", "x_optical")
    np.testing.assert_allclose(rotation, EXTRINSIC_R, atol=1e-12)
    np.testing.assert_allclose(translation, EXTRINSIC_T, atol=1e-12)
    inverse_r, inverse_t = tree.lookup("x_optical", "/rgb_optical")  # a leading slash means the same frame
    np.testing.assert_allclose(inverse_r, EXTRINSIC_R.T, atol=1e-12)
    np.testing.assert_allclose(inverse_t, -EXTRINSIC_R.T @ EXTRINSIC_T, atol=1e-12)
    with pytest.raises(TransformError, match="no recorded transform connects 'thermal' to 'rgb_optical'"):
        tree.lookup("rgb_optical", "thermal")


def test_dynamic_edges_use_the_latest_value_at_the_stamp() -> None:
    tree = TransformTree()
    tree.add("odom", "base_link", np.eye(3), [1.0, 0, 0], stamp_ns=100, static=False)
    tree.add("odom", "base_link", np.eye(3), [3.0, 0, 0], stamp_ns=300, static=False)
    tree.add("odom", "base_link", np.eye(3), [2.0, 0, 0], stamp_ns=200, static=False)  # out of order in the bag
    assert [tree.lookup("odom", "base_link", s)[1][0] for s in (50, 100, 250, 299, 300, 10**9)] == \
        [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


def _write_rig_bag(path: Path, with_tf: bool, x_frame: str = "x_optical") -> None:
    """4 frames: rgb8 48x64 and mono8 X 40x50 with their camera_infos, ground truth; /tf_static and a /tf."""
    rng = np.random.default_rng(5)
    with BagWriter(path) as bag:
        if with_tf:
            write_tf_static(bag, _edges(), STAMP0 - 10)
            write_tf_static(bag, [("odom", "base_link", np.eye(3), np.zeros(3))], STAMP0 - 5, topic="/tf")
        for index in range(4):
            stamp = STAMP0 + index * 100_000_000
            bag.write_camera_info("/rig/rgb/camera_info", *RGB_SIZE, stamp, "rgb_optical")
            bag.write_image("/rig/rgb/image", rng.integers(0, 256, (*RGB_SIZE, 3), dtype=np.uint8), "rgb8", stamp,
                            "rgb_optical")
            bag.write_camera_info("/rig/x/camera_info", *X_SIZE, stamp, x_frame)
            bag.write_image("/rig/x/image", rng.integers(0, 256, X_SIZE, dtype=np.uint8), "mono8", stamp, x_frame)
            bag.write_image("/rig/gt", rng.integers(0, 5, RGB_SIZE, dtype=np.uint8), "mono8", stamp, "rgb_optical")


def test_tf_static_alignment_equals_parameters_to_the_pixel(tmp_path: Path) -> None:
    _write_rig_bag(tmp_path / "rig", with_tf=True)
    with BagSource(tmp_path / "rig", IssueLog()) as source:
        tree = tree_from_bag(source, get_typestore())
    assert {"base_link", "rgb_link", "rgb_optical", "x_optical", "odom"} <= set(tree.frames)
    rotation, translation = tree.lookup("rgb_optical", "x_optical", STAMP0)
    rgb_camera = CameraModel(pinhole_camera_info(*RGB_SIZE)["k"], width=RGB_SIZE[1], height=RGB_SIZE[0])
    x_camera = CameraModel(pinhole_camera_info(*X_SIZE)["k"], width=X_SIZE[1], height=X_SIZE[0])
    x = np.random.default_rng(1).integers(1, 256, X_SIZE, dtype=np.uint8)
    by_params = XAligner(AlignmentConfig(mode="homography", plane_distance_m=3.0, extrinsic_rotation=EXTRINSIC_R,
                                         extrinsic_translation=EXTRINSIC_T))
    by_tf = XAligner(AlignmentConfig(mode="homography", plane_distance_m=3.0))
    by_tf.set_extrinsic(rotation, translation)
    expected = by_params.align(x, RGB_SIZE, rgb_camera, x_camera)
    np.testing.assert_array_equal(by_tf.align(x, RGB_SIZE, rgb_camera, x_camera), expected)
    identity = XAligner(AlignmentConfig(mode="homography", plane_distance_m=3.0, extrinsic_rotation=np.eye(3)))
    assert not np.array_equal(identity.align(x, RGB_SIZE, rgb_camera, x_camera), expected), "the extrinsic matters"


@pytest.mark.slow
def test_bag_eval_takes_the_extrinsic_from_tf_static(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from rxssnet_core import Segmenter

    segmenter = Segmenter.from_checkpoint(tiny_checkpoint)
    _write_rig_bag(tmp_path / "rig", with_tf=True)
    _write_rig_bag(tmp_path / "rig_no_tf", with_tf=False)
    topics = {"rgb_topic": "/rig/rgb/image", "x_topic": "/rig/x/image", "gt_topic": "/rig/gt", "progress": False}
    from_params = evaluate_bag(tmp_path / "rig_no_tf", segmenter, BagEvalConfig(**topics, alignment=AlignmentConfig(
        mode="homography", plane_distance_m=3.0, extrinsic_rotation=EXTRINSIC_R, extrinsic_translation=EXTRINSIC_T)))
    from_tf = evaluate_bag(tmp_path / "rig", segmenter, BagEvalConfig(**topics, alignment=AlignmentConfig(
        mode="homography", plane_distance_m=3.0)))  # extrinsic_source auto: the bag has /tf_static
    assert from_tf.counts["scored"] == from_params.counts["scored"] == 4
    assert len(from_tf.issues) == 0, from_tf.issues.texts()
    assert np.asarray(from_tf.metrics.confusion_matrix).tolist() == \
        np.asarray(from_params.metrics.confusion_matrix).tolist()
    # Asked for tf where the bag has none: refused, naming the fix.
    with pytest.raises(BagError, match="has no /tf_static or /tf"):
        evaluate_bag(tmp_path / "rig_no_tf", segmenter, BagEvalConfig(
            **topics, extrinsic_source="tf", alignment=AlignmentConfig(mode="homography", plane_distance_m=3.0)))
    # An X frame id the tree does not know: every pair is named as a problem, none is scored with a wrong extrinsic.
    _write_rig_bag(tmp_path / "rig_thermal", with_tf=True, x_frame="thermal_optical")
    unknown = evaluate_bag(tmp_path / "rig_thermal", segmenter, BagEvalConfig(
        **topics, alignment=AlignmentConfig(mode="homography", plane_distance_m=3.0)))
    assert unknown.counts["segmented"] == 0
    (text,) = [t for t in unknown.issues.texts() if "tf" in t]
    assert text.startswith("4 pairs had no extrinsic from the bag's tf: no recorded transform connects "
                           "'thermal_optical' to 'rgb_optical'"), text
