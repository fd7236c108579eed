# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag eval` on a ROS 1 `.bag`: read through rosbags like a rosbag2, or refused with the exact command.

The same 5 frames (raw RGB, PNG-compressed thermal over image_transport, ground truth, camera_info, tf) are
written once as a ROS 1 bag (rosbags.rosbag1.Writer, ROS 1 Noetic types: Header with seq, CameraInfo with D K R
P) and once as a rosbag2: both must score identically, and the predictions of the ROS 1 bag land in a rosbag2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_writer import BagWriter
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, evaluate_bag
from rxssnet_ros.cli import main as rxssnet_main
from rxssnet_ros.compressed_image import array_to_compressed_fields
from rxssnet_ros.image_conversion import array_to_image_fields

pytestmark = pytest.mark.slow
H, W = 48, 64
FRAMES = 5
START = 1_800_000_000 * 10**9


def _frames() -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    return [{"stamp": START + i * 100_000_000, "rgb": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
             "x": rng.integers(0, 256, (H, W), dtype=np.uint8), "gt": rng.integers(0, 5, (H, W), dtype=np.uint8)}
            for i in range(FRAMES)]


def write_ros1_bag(path: Path, frames: list[dict[str, Any]]) -> None:
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    types = store.types

    def header(seq: int, stamp: int, frame_id: str) -> Any:
        time = types["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9)
        return types["std_msgs/msg/Header"](seq=seq, stamp=time, frame_id=frame_id)

    with Writer(path) as bag:
        conns = {topic: bag.add_connection(topic, msgtype, typestore=store) for topic, msgtype in (
            ("/cam/rgb/image_raw", "sensor_msgs/msg/Image"),
            ("/cam/thermal/image_raw/compressed", "sensor_msgs/msg/CompressedImage"),
            ("/cam/gt", "sensor_msgs/msg/Image"), ("/cam/rgb/camera_info", "sensor_msgs/msg/CameraInfo"),
            ("/diagnostics_agg", "diagnostic_msgs/msg/DiagnosticArray"))}

        def write(topic: str, msg: Any, stamp: int) -> None:
            bag.write(conns[topic], stamp, store.serialize_ros1(msg, msg.__msgtype__))

        for seq, frame in enumerate(frames):
            stamp = frame["stamp"]
            for topic, array, encoding, frame_id in (("/cam/rgb/image_raw", frame["rgb"], "rgb8", "rgb"),
                                                     ("/cam/gt", frame["gt"], "mono8", "rgb")):
                fields = array_to_image_fields(array, encoding)
                write(topic, types["sensor_msgs/msg/Image"](header=header(seq, stamp, frame_id), **fields), stamp)
            compressed = array_to_compressed_fields(frame["x"], "mono8", "png")
            write("/cam/thermal/image_raw/compressed", types["sensor_msgs/msg/CompressedImage"](
                header=header(seq, stamp + 3_000_000, "thermal"), **compressed), stamp + 3_000_000)
            roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                            do_rectify=False)
            write("/cam/rgb/camera_info", types["sensor_msgs/msg/CameraInfo"](
                header=header(seq, stamp, "rgb"), height=H, width=W, distortion_model="plumb_bob",
                D=np.zeros(5), K=np.array([50.0, 0, 31.5, 0, 50, 23.5, 0, 0, 1]), R=np.eye(3).reshape(-1),
                P=np.zeros(12), binning_x=0, binning_y=0, roi=roi), stamp)
            write("/diagnostics_agg", types["diagnostic_msgs/msg/DiagnosticArray"](
                header=header(seq, stamp, ""), status=[]), stamp)


def write_ros2_bag(path: Path, frames: list[dict[str, Any]]) -> None:
    with BagWriter(path) as bag:
        for frame in frames:
            stamp = frame["stamp"]
            bag.write_image("/cam/rgb/image_raw", frame["rgb"], "rgb8", stamp, "rgb")
            bag.write_compressed("/cam/thermal/image_raw/compressed", frame["x"], "mono8", "png", stamp + 3_000_000,
                                 "thermal")
            bag.write_image("/cam/gt", frame["gt"], "mono8", stamp, "rgb")


def test_ros1_bag_scores_like_the_same_rosbag2(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from rosbags.rosbag2 import Reader

    from rxssnet_core import Segmenter

    frames = _frames()
    write_ros1_bag(tmp_path / "run.bag", frames)
    write_ros2_bag(tmp_path / "run_ros2", frames)
    topics = {"rgb_topic": "/cam/rgb/image_raw", "x_topic": "/cam/thermal/image_raw", "gt_topic": "/cam/gt",
              "progress": False}
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint)
    ros1 = evaluate_bag(tmp_path / "run.bag", segmenter, BagEvalConfig(**topics))
    ros2 = evaluate_bag(tmp_path / "run_ros2", segmenter, BagEvalConfig(**topics))
    assert ros1.counts["scored"] == ros2.counts["scored"] == FRAMES
    assert len(ros1.issues) == 0, ros1.issues.texts()
    assert np.asarray(ros1.metrics.confusion_matrix).tolist() == np.asarray(ros2.metrics.confusion_matrix).tolist()

    # The CLI on the .bag, with a predictions copy: a rosbag2 holding every ROS 1 message and the labels.
    args = ["bag", "eval", str(tmp_path / "run.bag"), "--checkpoint", str(tiny_checkpoint), "--rgb-topic",
            "/cam/rgb/image_raw", "--x-topic", "/cam/thermal/image_raw", "--gt-topic", "/cam/gt", "--out",
            str(tmp_path / "report"), "--write-predictions", str(tmp_path / "predictions")]
    assert rxssnet_main(args) == 0
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["miou"] == pytest.approx(float(ros2.miou), abs=1e-12)
    with Reader(tmp_path / "predictions") as reader:
        counts = {topic: info.msgcount for topic, info in reader.topics.items()}
    assert counts["/segment_node/labels"] == counts["/cam/rgb/image_raw"] == FRAMES
    assert counts["/cam/rgb/camera_info"] == counts["/diagnostics_agg"] == FRAMES


def test_unreadable_ros1_bag_is_refused_with_the_conversion_command(tmp_path: Path) -> None:
    bag = tmp_path / "cut.bag"
    write_ros1_bag(bag, _frames())
    data = bag.read_bytes()
    bag.write_bytes(data[: len(data) // 2])  # the index at the end is gone
    with pytest.raises(BagError) as error:
        evaluate_bag(bag, None, BagEvalConfig(rgb_topic="/cam/rgb/image_raw", x_topic="/cam/thermal/image_raw",
                                              gt_topic="/cam/gt", progress=False))
    assert f"rosbags-convert --src {bag} --dst {tmp_path / 'cut'}_ros2" in str(error.value)
    (tmp_path / "fake.bag").write_text("not a bag")
    with pytest.raises(BagError, match="named like a ROS 1 bag but does not start with"):
        evaluate_bag(tmp_path / "fake.bag", None, BagEvalConfig(progress=False))
