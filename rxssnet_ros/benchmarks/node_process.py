# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""A node process under benchmark and the probe that feeds it: its ROS environment (loopback discovery, its own
domain), its memory, the camera streams the probe publishes and the labels it times.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String
from tqdm import tqdm

from rxssnet_ros.image_conversion import array_to_image
from rxssnet_ros.ros_time import stamp_ns, time_fields

REPO_CONFIG = pathlib.Path(__file__).resolve().parents[2] / "config"


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc), NaN elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def ros_environment(domain_id: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # never leave this machine
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else 100 + os.getpid() % 100)
    profile = REPO_CONFIG / "fastdds_large_images.xml"
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in env and profile.is_file():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_connected(probe_node: Any, rgb_pub: Any, x_pub: Any, node_topic: str, timeout: float) -> bool:
    """Wait until the node under test subscribes both camera topics and publishes `<node_topic>/labels`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rgb_pub.get_subscription_count() and x_pub.get_subscription_count() and \
                probe_node.count_publishers(f"{node_topic}/labels"):
            return True
        time.sleep(0.1)
    return False


class NodeUnderTest:
    """segment_node in a subprocess of its own process group; `stop` sends SIGINT and waits.

    source_tree: run the node from that checkout instead (`node_ab`: a baseline against this one).
    """

    def __init__(self, namespace: str, params: dict[str, Any], env: dict[str, str],
                 source_tree: str | None = None) -> None:
        args = [sys.executable, "-m", "rxssnet_ros.segment_node", "--ros-args", "-r", f"__ns:={namespace}"]
        for key, value in params.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        if source_tree is not None:  # `-m` puts the working directory first on sys.path, then PYTHONPATH
            env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [source_tree, env.get("PYTHONPATH")]))}
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the node process
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=source_tree)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


class Probe:
    """Publishes pairs to `<namespace>/<node_name>` and timestamps its ~/labels as they come back (own rclpy context
    and executor thread).
    """

    def __init__(self, namespace: str, node_name: str = "segment_node") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("latency_probe", context=self.context)
        node_topic = f"{namespace}/{node_name}"
        self.rgb_pub = self.node.create_publisher(Image, f"{node_topic}/rgb/image", qos_profile_sensor_data)
        self.x_pub = self.node.create_publisher(Image, f"{node_topic}/x/image", qos_profile_sensor_data)
        self.sent: dict[int, float] = {}
        self.received: dict[int, float] = {}
        self.timings: dict[int, dict[str, Any]] = {}  # ~/frame_timing per output, by RGB stamp
        self.label_sizes: set[tuple[int, int]] = set()  # (H, W) of the ~/labels images received
        self.diagnostics: dict[str, str] = {}
        self._lock = threading.Lock()
        self._keep = [
            self.node.create_subscription(Image, f"{node_topic}/labels", self._on_labels, 10),
            self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10),
            self.node.create_subscription(String, f"{node_topic}/frame_timing", self._on_timing, 50),
        ]
        self._name = node_topic
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_labels(self, msg: Any) -> None:
        now = time.perf_counter()
        stamp = stamp_ns(msg.header.stamp)
        with self._lock:
            self.received[stamp] = now
            self.label_sizes.add((msg.height, msg.width))

    def _on_timing(self, msg: Any) -> None:
        record = json.loads(msg.data)
        with self._lock:
            self.timings[int(record["stamp_ns"])] = record

    def publish_one(self, which: str, msg: Any, stamp: int) -> None:
        """Publish one image of one camera ("rgb" | "x") stamped `stamp`; RGB send times are recorded."""
        msg.header.stamp = Time(**time_fields(stamp))
        if which == "rgb":
            with self._lock:
                self.sent[stamp] = time.perf_counter()
            self.rgb_pub.publish(msg)
        else:
            self.x_pub.publish(msg)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if self._name in status.name:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def wait_connected(self, timeout: float) -> bool:
        return wait_connected(self.node, self.rgb_pub, self.x_pub, self._name, timeout)

    def publish(self, rgb_msg: Any, x_msg: Any, stamp: int) -> None:
        """One pair stamped `stamp`: X first, so that the pair is complete when RGB (the timed image) arrives."""
        self.publish_one("x", x_msg, stamp)
        self.publish_one("rgb", rgb_msg, stamp)

    def latencies_ms(self, stamps: Sequence[int] | None = None) -> list[float]:
        with self._lock:
            keys = self.received.keys() if stamps is None else [s for s in stamps if s in self.received]
            return [(self.received[s] - self.sent[s]) * 1e3 for s in keys if s in self.sent]

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(10)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def camera_frames(height: int, width: int) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """(RGB message, X message, RGB array, X array): random rgb8 and mono8 images of one size, frame "camera"."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    x = rng.integers(0, 256, (height, width), dtype=np.uint8)
    rgb_msg, x_msg = array_to_image(rgb, "rgb8"), array_to_image(x, "mono8")
    rgb_msg.header.frame_id = x_msg.header.frame_id = "camera"
    return rgb_msg, x_msg, rgb, x


def camera_schedule(seconds: float, rgb_rate: float, x_rate: float, x_offset_ms: float, jitter_ms: float,
                    seed: int = 0) -> list[tuple[float, str]]:
    """(send time in s from the start, camera) of two free-running cameras: RGB at rgb_rate, X at x_rate shifted by
    x_offset_ms, each frame moved by a uniform +-jitter_ms (driver and transport jitter); in send order.
    """
    rng = np.random.default_rng(seed)
    events = [(k / rgb_rate + rng.uniform(-jitter_ms, jitter_ms) / 1e3, "rgb") for k in range(int(seconds * rgb_rate))]
    events += [(k / x_rate + (x_offset_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1e3, "x")
               for k in range(int(seconds * x_rate))]
    return sorted((max(t, 0.0), which) for t, which in events)

def play_camera_streams(probe: Probe, height: int, width: int, seconds: float, rgb_rate: float = 30.0,
                        x_rate: float = 9.0, x_offset_ms: float = 11.0, jitter_ms: float = 4.0,
                        desc: str = "camera streams") -> None:
    """Publish free-running RGB and X cameras (`camera_schedule`) of one size through `probe` for `seconds`."""
    rgb_msg, x_msg, _, _ = camera_frames(height, width)
    schedule = camera_schedule(seconds, rgb_rate, x_rate, x_offset_ms, jitter_ms)
    start_wall, start_ns = time.perf_counter(), time.time_ns()
    for offset, which in tqdm(schedule, desc=desc):
        delay = start_wall + offset - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        probe.publish_one(which, rgb_msg if which == "rgb" else x_msg, start_ns + int(offset * 1e9))
