# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`make demo`'s pipeline on a reduced size: train, bag, live ROS 2 graph, reports, comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optional_deps import require


@pytest.mark.slow
def test_quick_demo_runs_the_whole_pipeline_in_a_ros_graph(tmp_path, ros_env):
    require("torch", "timm", "rosbags")  # the demo trains its model and records a bag
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "rxssnet_ros.demo", "--quick", "--out", str(out)],
                            env={**ros_env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["frames_in_bag"] == 18 and summary["x_dropped_frames"] == list(range(6, 12))
    # The X camera drops out and comes back: the node announces the switch both ways, exactly once each.
    assert summary["modes_announced"] == ["fused", "rgb_only", "fused"]
    per_mode = summary["frames_per_mode"]
    assert per_mode["rgb_only"] >= 3 and per_mode["fused"] >= 8
    # Labels keep flowing in the degraded mode; only the frames before the node notices (x_timeout) are lost.
    assert summary["frames_in_bag"] - 4 <= summary["frames_segmented"] <= summary["frames_in_bag"]
    for key in ("overlay_strip", "comparison_md", "comparison_png", "checkpoint", "per_mode_md"):
        assert Path(summary[key]).is_file(), key
    report = json.loads((out / "ros_eval_report" / "metrics.json").read_text())
    assert len(report["iou"]) == 4
    # The per-mode accounting covers exactly the labels eval_node scored in the same graph.
    modes = json.loads((out / "ros_miou_per_mode.json").read_text())
    assert modes["modes"]["all"]["confusion_matrix"] == report["confusion_matrix"]
    assert summary["ros_miou"] == pytest.approx(summary["ros_miou_per_mode"]["all"], abs=1e-12)
    # A frame whose X was withheld can only have been served without X.
    dropped = set(modes["x_dropped_stamps"])
    assert dropped and all(mode == "rgb_only" for stamp, mode in modes["label_modes"].items()
                           if int(stamp) in dropped)
    assert "rgb_only" in (out / "ros_miou_per_mode.md").read_text()
    assert (out / "ros_eval_report" / "per_class_iou.png").stat().st_size > 1000
    assert (out / "overlay_strip.png").stat().st_size > 1000
    assert "Outputs:" in result.stdout and "overlay strip" in result.stdout and "mIoU per mode" in result.stdout


def test_mode_timeline_scores_each_label_in_the_mode_announced_before_it():
    from rxssnet_ros.demo_dropout import ModeTimeline, mode_of

    truth = {1: np.array([[0, 2]], dtype=np.uint8), 2: np.array([[0, 2]], dtype=np.uint8),
             3: np.array([[0, 2]], dtype=np.uint8)}
    timeline = ModeTimeline()
    timeline.on_mode(json.dumps({"mode": "fused", "cause": ""}))  # the latched announcement at start
    timeline.on_labels(1, np.array([[0, 2]], dtype=np.uint8))  # right
    timeline.on_mode(json.dumps({"mode": "rgb_only", "cause": "x: silent for 0.5 s"}))
    timeline.on_labels(2, np.array([[0, 0]], dtype=np.uint8))  # the X-only class is lost
    timeline.on_labels(99, np.array([[0, 0]], dtype=np.uint8))  # no ground truth for this stamp: skipped
    timeline.on_mode(json.dumps({"mode": "fused", "cause": ""}))
    timeline.on_labels(3, np.array([[0, 2]], dtype=np.uint8))
    assert timeline.switches == ["fused", "rgb_only", "fused"]
    assert timeline.frames_per_mode() == {"fused": 2, "rgb_only": 2}
    metrics = timeline.metrics(truth.get, ["background", "painted_marker", "warm_person", "vehicle"])
    assert metrics["fused"].miou == pytest.approx(1.0)
    assert metrics["rgb_only"].iou[2] == 0.0 and metrics["rgb_only"].iou[0] == pytest.approx(0.5)
    # "all" is every scored label: exactly what eval_node, which sees the same labels, accumulates.
    assert np.array(metrics["all"].confusion_matrix).sum() == 6
    assert mode_of("not json") == "not json"


def test_x_dropout_withholds_only_the_stretch():
    from rxssnet_ros.demo_dropout import DropoutNode, XDropout

    class Recorder:
        def __init__(self):
            self.sent = []

        def publish(self, message):
            self.sent.append(message)

    class FakeNode:  # stands in for the rclpy node only as far as play_bag uses it: create_publisher
        def __init__(self):
            self.publishers = {}

        def create_publisher(self, msg_type, topic, qos):
            return self.publishers.setdefault(topic, Recorder())

    dropout = XDropout.middle_third(9)
    assert (dropout.first, dropout.count) == (3, 3)
    real = FakeNode()
    gated = DropoutNode(real, "/x", dropout)
    x, rgb = gated.create_publisher(None, "/x", None), gated.create_publisher(None, "/rgb", None)
    for frame in range(9):
        x.publish(f"x{frame}")
        rgb.publish(f"rgb{frame}")
    assert real.publishers["/x"].sent == ["x0", "x1", "x2", "x6", "x7", "x8"]
    assert len(real.publishers["/rgb"].sent) == 9 and gated.x_publisher.dropped == [3, 4, 5]
    with pytest.raises(ValueError, match="first"):
        XDropout(-1, 2)
