# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The demo's live ROS 2 graph: segment_node and eval_node as processes, the test bag played into them with the
X camera dropping out for the middle third of the frames, and what the graph answered.

`run_ros_graph` starts both nodes (segment_node with failure detection, `DETECTION_PARAMS`), waits until they
listen, plays the bag at `PLAY_RATE_HZ` through `bag_player` with the X publisher gated by
`demo_dropout.DropoutNode`, and collects the node's overlays, labels and announced modes (~/mode) into a
`GraphRun`; eval_node writes its report once the labels have stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from rxssnet_ros.bag_player import play_bag
from rxssnet_ros.bag_tools.bag_layout import BagTopics, read_dataset_info
from rxssnet_ros.demo_dropout import DropoutNode, ModeTimeline, XDropout
from rxssnet_ros.image_conversion import image_to_array
from rxssnet_ros.ros_time import stamp_ns

SEGMENT_NODE = "segment_node"
EVAL_NODE = "eval_node"
PLAY_RATE_HZ = 4.0
# Failure detection in the demo: X counts as failed after 0.5 s of silence (2 frames at PLAY_RATE_HZ) and as
# recovered after 0.5 s of good images; the node checks every 20 ms, so ~/mode follows the switch closely.
DETECTION_PARAMS = ("detect_input_failures:=true", "x_missing_policy:=rgb_only", "x_timeout:=0.5",
                    "failure_exit_time:=0.5", "health_check_period:=0.02")
LABELS_SETTLED_S = 2.0  # after playback, labels have stopped once none came for this long


def log(message: str) -> None:
    """One progress line of the demo (every step prints through it)."""
    print(f"[demo] {message}", flush=True)


class RosProcess:
    """A node in its own process group; stopped with SIGINT (then SIGKILL if it hangs)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            if self.wait(timeout) is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def wait_until_settled(count: Callable[[], int], quiet_s: float, timeout: float) -> None:
    """Returns once `count()` has not changed for `quiet_s` seconds (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.1)
        if count() != last:
            last, since = count(), time.monotonic()


@dataclass
class GraphRun:
    """What the live graph produced: overlays and labels by stamp, the announced modes, eval_node's report."""

    overlays: dict[int, np.ndarray]
    timeline: ModeTimeline
    dropout: XDropout
    dropped_stamps: list[int]
    report_dir: Path


def run_ros_graph(checkpoint: Path, bag: Path, frames: int, out_dir: Path, env: dict[str, str]) -> GraphRun:
    """Runs segment_node and eval_node, plays the bag into them with the X camera dropping out for the middle
    third of the frames, and collects overlays, labels and ~/mode from the graph.
    """
    topics = BagTopics()
    report_dir = out_dir / "ros_eval_report"
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    detection = [arg for param in DETECTION_PARAMS for arg in ("-p", param)]
    segment = RosProcess(SEGMENT_NODE, [
        python, "-m", "rxssnet_ros.segment_node", "--ros-args", "-r", f"__node:={SEGMENT_NODE}",
        "-p", f"checkpoint:={checkpoint}", "-p", "input_qos:=reliable", "-p", "slop:=0.05",
        # Frames come at PLAY_RATE_HZ: telling the pairing rule so lets it release each pair at once.
        "-p", f"inter_message_lower_bound:={0.8 / PLAY_RATE_HZ}", *detection,
        "-r", f"~/rgb/image:={topics.rgb}", "-r", f"~/x/image:={topics.x}",
        "-r", f"~/rgb/camera_info:={topics.rgb_info}"], env, logs / "segment_node.log")
    # Frames lost while the node notices the drop-out get no label, so eval_node cannot count to the end: it is
    # stopped (and writes its report) once the labels have stopped.
    evaluator = RosProcess(EVAL_NODE, [
        python, "-m", "rxssnet_ros.eval_node", "--ros-args", "-r", f"__node:={EVAL_NODE}",
        "-p", f"dataset_info:={bag}", "-p", f"output_dir:={report_dir}",
        "-r", f"~/labels:=/{SEGMENT_NODE}/labels", "-r", f"~/gt:={topics.gt}"], env, logs / "eval_node.log")
    rclpy.init()
    node = rclpy.create_node("rxssnet_demo")
    overlays: dict[int, np.ndarray] = {}
    timeline = ModeTimeline()
    dropout = XDropout.middle_third(frames)

    def stamp_of(msg: Any) -> int:
        return stamp_ns(msg.header.stamp)

    def on_overlay(msg: Image) -> None:
        overlays[stamp_of(msg)] = image_to_array(msg, "overlay")
        timeline.on_overlay(stamp_of(msg))

    reliable = QoSProfile(depth=frames + 10, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(Image, f"/{SEGMENT_NODE}/overlay", on_overlay, reliable)
    node.create_subscription(Image, f"/{SEGMENT_NODE}/labels",
                             lambda msg: timeline.on_labels(stamp_of(msg), image_to_array(msg, "labels")), reliable)
    node.create_subscription(String, f"/{SEGMENT_NODE}/mode", lambda msg: timeline.on_mode(msg.data), latched)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    gated = DropoutNode(node, topics.x, dropout)
    try:
        deadline = time.monotonic() + 120
        # Play only once both nodes listen, so that no frame is lost to discovery.
        while time.monotonic() < deadline:
            if node.count_subscribers(topics.rgb) >= 1 and node.count_subscribers(topics.gt) >= 1 \
                    and node.count_publishers(f"/{SEGMENT_NODE}/overlay") >= 1:
                break
            for proc in (segment, evaluator):
                if proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the nodes did not come up within 120 s; see {logs}")
        time.sleep(1.0)
        log(f"playing {bag.name} ({frames} frames at {PLAY_RATE_HZ:g} Hz) into segment_node; the X camera "
            f"drops out for frames {dropout.first}..{dropout.first + dropout.count - 1}")
        # the bag's publishers are new: the first frame waits until they have matched the nodes' subscriptions
        play_bag(gated, bag, topics=[topics.rgb, topics.x, topics.gt, topics.rgb_info, topics.x_info],
                 wait_for_subscribers_s=30.0)
        timeline.end_of_input()  # one flag, read by the executor's callbacks: no lock needed
        wait_until_settled(lambda: len(timeline.labels), LABELS_SETTLED_S, timeout=60 + frames * 5)
    finally:
        evaluator.stop()
        segment.stop()
        executor.shutdown()
        spinner.join(timeout=5)
        node.destroy_node()
        rclpy.shutdown()
    bag_frames = (read_dataset_info(bag) or {}).get("frames", [])
    dropped = gated.x_publisher.dropped if gated.x_publisher is not None else []
    dropped_stamps = [bag_frames[index]["stamp_ns"] for index in dropped if index < len(bag_frames)]
    log(f"modes announced on ~/mode: {' -> '.join(timeline.switches)}; labels per mode "
        f"{timeline.frames_per_mode()}")
    return GraphRun(overlays, timeline, dropout, dropped_stamps, report_dir)
