# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`eval_node`: the live score of a bag's predictions equals the offline `rxssnet bag eval` score, exactly.

The node runs as its own process (real rclpy, loopback DDS, this run's domain); this test process plays the bag's
predicted labels and ground truth in stamp order with reliable QoS (what `ros2 bag play` would do), then stops
the node with SIGINT twice (Ctrl-C plus launch's forwarded signal) and reads its report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_bag_eval import offline_case  # noqa: F401 - the session fixture (built once, cached on disk)

from rxssnet_ros.bag_player import wait_for_subscribers
from rxssnet_ros.bag_tools.bag_writer import get_typestore
from rxssnet_ros.eval_node import EvalConfigError, resolve_class_names
from rxssnet_ros.ros_time import stamp_ns

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS_TOPIC = "/segment_node/labels"
GT_TOPIC = "/camera/labels_gt"


def _bag_messages(bag: str, topics: tuple[str, ...]) -> list[tuple[int, str, Any]]:
    from rosbags.rosbag2 import Reader

    store = get_typestore()
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        out = [(stamp_ns(m.header.stamp), c.topic, m)
               for c, _, d in reader.messages(conns) for m in [store.deserialize_cdr(d, c.msgtype)]]
    return sorted(out, key=lambda item: (item[0], item[1]))


def _to_rclpy(msg: Any) -> Any:
    import array

    from sensor_msgs.msg import Image

    out = Image()
    out.header.stamp.sec, out.header.stamp.nanosec = int(msg.header.stamp.sec), int(msg.header.stamp.nanosec)
    out.header.frame_id = msg.header.frame_id
    out.height, out.width, out.encoding = int(msg.height), int(msg.width), str(msg.encoding)
    out.is_bigendian, out.step = int(msg.is_bigendian), int(msg.step)
    out.data = array.array("B", bytes(msg.data))
    return out


class _LineReader:
    """Collects a child's output lines in a thread, so that the test can wait for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(process,), daemon=True)
        self._thread.start()

    def _run(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.05)
        return False

    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.slow
@pytest.mark.ros
def test_live_eval_node_agrees_with_offline_score(offline_case: dict[str, Any], ros_env: dict[str, str],  # noqa: F811
                                                  tmp_path: Path) -> None:
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    out = tmp_path / "live"
    env = dict(ros_env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), ros_env.get("PYTHONPATH")])),
               RCUTILS_LOGGING_BUFFERED_STREAM="0")
    command = [sys.executable, "-m", "rxssnet_ros.eval_node", "--ros-args",
               "-r", f"~/labels:={LABELS_TOPIC}", "-r", f"~/gt:={GT_TOPIC}",
               "-p", f"dataset_info:={offline_case['bag']}", "-p", f"output_dir:={out}", "-p", "log_every:=1"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = _LineReader(process)
    messages = _bag_messages(offline_case["predictions"], (LABELS_TOPIC, GT_TOPIC))
    assert len(messages) == 12
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("bag_player", context=context)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
        publishers = {topic: node.create_publisher(Image, topic, qos) for topic in (LABELS_TOPIC, GT_TOPIC)}
        assert lines.wait_for("scoring", 60), f"eval_node did not start:\n{lines.text()}"
        # what bag_player does before its first message: one published before matching is lost
        assert wait_for_subscribers(node, publishers.values(), 30, require_subscriber=True), \
            f"eval_node never matched:\n{lines.text()}"
        # a subscription the graph lists but that cannot match (best-effort writer, reliable reader): not matched
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        node.create_subscription(Image, "/never/matched", lambda _: None, qos)
        deadline = time.monotonic() + 10
        while node.count_subscribers("/never/matched") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not wait_for_subscribers(node, [node.create_publisher(Image, "/never/matched", best_effort)], 0.5)
        for _, topic, msg in messages:  # stamp order, labels and ground truth interleaved as recorded
            publishers[topic].publish(_to_rclpy(msg))
        assert lines.wait_for("scored 6 frames", 30), f"eval_node did not score every frame:\n{lines.text()}"
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    process.send_signal(signal.SIGINT)
    assert lines.wait_for("writing the report", 30), lines.text()
    process.send_signal(signal.SIGINT)  # a second Ctrl-C (or launch's forwarded SIGINT) while it writes
    assert process.wait(timeout=60) == 0, lines.text()
    live = json.loads((out / "metrics.json").read_text())
    offline = json.loads((Path(offline_case["bag_eval"]) / "metrics.json").read_text())
    assert live["miou"] == offline["miou"]
    assert live["confusion_matrix"] == offline["confusion_matrix"]
    assert live["class_names"] == offline["class_names"]
    assert live["live_eval"]["counts"] == {"labels_messages": 6, "gt_messages": 6, "scored": 6}
    assert live["live_eval"]["issues"] == []
    assert (out / "per_class_iou.png").stat().st_size > 0


@pytest.mark.slow
def test_class_names_resolution(offline_case: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    names = ["background", "painted_marker", "warm_person", "vehicle"]
    assert resolve_class_names([""], 0, "", offline_case["bag"]) == names
    assert resolve_class_names([""], 0, offline_case["checkpoint"], "") == names
    spec = tmp_path / "classes.yaml"
    spec.write_text("class_names: [road, car]\n")
    assert resolve_class_names([], 0, "", str(spec)) == ["road", "car"]
    assert resolve_class_names([], 3, "", "") == ["class_0", "class_1", "class_2"]
    with pytest.raises(EvalConfigError, match="num_classes'=5 disagrees with the 4 class names"):
        resolve_class_names([""], 5, "", offline_case["bag"])
    with pytest.raises(EvalConfigError, match="set one of the parameters class_names, num_classes"):
        resolve_class_names([""], 0, "", "")
    with pytest.raises(EvalConfigError, match=r"parameter 'dataset_info'.*does not exist"):
        resolve_class_names([], 0, "", str(tmp_path / "missing_bag"))


@pytest.mark.slow
@pytest.mark.ros
def test_eval_node_idle_timeout_and_bad_parameter(ros_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(ros_env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), ros_env.get("PYTHONPATH")])))
    base = [sys.executable, "-m", "rxssnet_ros.eval_node", "--ros-args", "-p", "num_classes:=3"]
    # Both processes at once: each pays the rclpy start-up, not the other's.
    idle = subprocess.Popen([*base, "-p", "idle_timeout:=1.0", "-p", f"output_dir:={tmp_path / 'idle'}"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    bad = subprocess.run([*base, "-p", "qos:=fast"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "parameter 'qos'='fast' must be reliable or sensor_data" in bad.stderr
    output, _ = idle.communicate(timeout=60)
    assert idle.returncode == 0, output
    assert "no messages for idle_timeout=1 s" in output and "no frame was scored" in output
    report = json.loads((tmp_path / "idle" / "metrics.json").read_text())
    assert report["miou"] is None and report["class_names"] == ["class_0", "class_1", "class_2"]
    assert report["live_eval"]["counts"]["scored"] == 0
