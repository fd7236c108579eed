# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test helpers: segment_node in a child process, and a harness node (real rclpy) in the test process.

The node runs as `python -m rxssnet_ros.segment_node --ros-args ...` in its own process group, with the test's
ROS environment (loopback discovery, the run's ROS_DOMAIN_ID). `NodeProcess.stop` sends SIGINT and waits, and
kills the group if the node does not exit, so that nothing is left running. `Harness` owns an rclpy context,
one node and an executor thread; `close` joins that thread before shutting the context down.
"""

from __future__ import annotations

import array
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rcl_interfaces.srv import SetParameters
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from rxssnet_ros import ros_time
from rxssnet_ros.bag_player import wait_for_subscribers
from rxssnet_ros.image_conversion import array_to_image, image_to_array

NODE_MODULE = "rxssnet_ros.segment_node"


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the test-side Segmenter with the node's thread count, so that both compute bit-identical logits."""
    # torch: test_torch_free_runtime imports this harness too; only the tests comparing with torch need it
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def ros_child_env() -> dict[str, str]:
    """What conftest's `ros_env` gives (loopback discovery, this run's domain), for module-scoped fixtures."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    assert "ROS_DOMAIN_ID" in env, "test/conftest.py sets ROS_DOMAIN_ID for the run"
    return env


def format_param(value: Any) -> str:
    """A Python value as a ROS command-line parameter value (-p name:=value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_param(v) for v in value) + "]"
    return str(value)


class NodeProcess:
    """segment_node in a subprocess; its combined stdout/stderr is collected line by line."""

    def __init__(self, params: Mapping[str, Any], env: Mapping[str, str], namespace: str = "/",
                 remaps: Mapping[str, str] | None = None, extra_args: Sequence[str] = ()) -> None:
        args = [sys.executable, "-m", NODE_MODULE, "--ros-args", "-r", f"__ns:={namespace}"]
        # The tests' small synthetic images run at their own size (the Segmenter's default, which they compare
        # with) unless a test sets input_size; the node's own default is the checkpoint's training size.
        params = {"input_size": "camera", **params}
        for key, value in params.items():
            args += ["-p", f"{key}:={format_param(value)}"]
        for source, target in (remaps or {}).items():
            args += ["-r", f"{source}:={target}"]
        args += list(extra_args)
        child_env = dict(env)
        # One torch thread per process: the test machine has 2 cores shared by the node, the harness and others.
        child_env.setdefault("OMP_NUM_THREADS", "1")
        child_env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"
        child_env["PYTHONUNBUFFERED"] = "1"
        self.args = args
        self.lines: list[str] = []
        self.proc = subprocess.Popen(args, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader drain the pipe
                return any(text in line for line in self.lines)
            time.sleep(0.05)
        return False

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; returns its exit code."""
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self, timeout: float = 30.0, sigints: int = 1) -> int:
        """SIGINT (`sigints` times, as a terminal plus launch would), then wait; SIGKILL to the process group if
        it hangs. Returns the exit code."""
        if self.proc.poll() is None:
            for index in range(sigints):
                if index:
                    time.sleep(0.05)
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


def run_node_once(params: Mapping[str, Any], env: Mapping[str, str], timeout: float = 60.0,
                  extra_args: Sequence[str] = ()) -> tuple[int, str]:
    """Start segment_node and wait for it to exit by itself (startup errors); returns (code, output)."""
    node = NodeProcess(params, env, extra_args=extra_args)
    try:
        code = node.wait(timeout)
    finally:
        node.stop()
    return code, node.output


# -- messages ---------------------------------------------------------------------------------------------------
def make_stamp(stamp_ns: int) -> Any:
    return Time(**ros_time.time_fields(stamp_ns))


def image_msg(array_: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = "camera") -> Any:
    """A well-formed sensor_msgs/Image."""
    msg = array_to_image(array_, encoding)
    msg.header.stamp = make_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    return msg


def raw_image_msg(height: int, width: int, encoding: str, step: int, data: bytes, stamp_ns: int,
                  is_bigendian: int = 0, frame_id: str = "camera") -> Any:
    """A sensor_msgs/Image with fields exactly as given (for malformed messages)."""
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step)
    msg.data = array.array("B", data)
    msg.header.stamp = make_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    return msg


def image_to_numpy(msg: Any) -> np.ndarray:
    return image_to_array(msg)


def reliable_qos(depth: int = 10) -> Any:
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def best_effort_qos(depth: int = 10) -> Any:
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)


# -- the harness node -------------------------------------------------------------------------------------------
class Collector:
    """Messages received on one topic, with a condition to wait on."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._condition = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._condition:
            self.messages.append(msg)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.1))
            return True

    def by_stamp(self) -> dict[int, Any]:
        with self._condition:
            return {ros_time.stamp_ns(msg.header.stamp): msg for msg in self.messages}

    def clear(self) -> None:
        with self._condition:
            self.messages.clear()


class Harness:
    """A node in the test process (own rclpy context, executor thread), with /rosout and /diagnostics taps."""

    def __init__(self, name: str = "test_harness") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self._keep: list[Any] = []
        self.logs = Collector()
        rosout_qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._keep.append(self.node.create_subscription(Log, "/rosout", self.logs, rosout_qos))
        self.diagnostics = self.collect("/diagnostics", DiagnosticArray, reliable_qos())

    def _spin(self) -> None:
        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def publisher(self, topic: str, msg_type: Any = Image, qos: Any = None) -> Any:
        pub = self.node.create_publisher(msg_type, topic, qos or reliable_qos())
        self._keep.append(pub)
        return pub

    def collect(self, topic: str, msg_type: Any = Image, qos: Any = None) -> Collector:
        collector = Collector()
        self._keep.append(self.node.create_subscription(msg_type, topic, collector, qos or reliable_qos()))
        return collector

    def wait_for_subscribers(self, publishers: Sequence[Any], timeout: float = 60.0) -> bool:
        """Until every publisher has matched the subscriptions the graph lists on its topic, and at least one."""
        return wait_for_subscribers(self.node, publishers, timeout, require_subscriber=True)

    def wait_for_publishers(self, collectors_topics: Sequence[str], timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.node.count_publishers(t) > 0 for t in collectors_topics):
                return True
            time.sleep(0.05)
        return False

    def publishers_of(self, topic: str) -> list[str]:
        """Who publishes `topic` now ("/namespace/node"), for a failure message: messages from an unexpected node
        name their source.
        """
        return [f"{info.node_namespace.rstrip('/')}/{info.node_name}"
                for info in self.node.get_publishers_info_by_topic(topic)]

    def log_lines(self, logger_contains: str, text: str = "") -> list[str]:
        """Messages from loggers whose name contains `logger_contains` and whose text contains `text`."""
        return [msg.msg for msg in list(self.logs.messages) if logger_contains in msg.name and text in msg.msg]

    def wait_for_log(self, logger_contains: str, text: str, timeout: float) -> bool:
        return self.logs.wait_for(
            lambda msgs: any(logger_contains in m.name and text in m.msg for m in msgs), timeout)

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 30.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} did not appear within {timeout} s")
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"service {name} did not answer within {timeout} s")
                time.sleep(0.02)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_parameters(self, node_name: str, values: Mapping[str, Any], timeout: float = 30.0) -> list[Any]:
        """Set parameters of another node through its SetParameters service; returns the SetParametersResults."""
        request = SetParameters.Request()
        request.parameters = [Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
        return list(self.call(SetParameters, f"{node_name}/set_parameters", request, timeout).results)

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(10)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def diagnostic_values(array_msg: Any, name_contains: str) -> list[tuple[int, str, dict[str, str]]]:
    """(level, message, {key: value}) of the statuses in a DiagnosticArray whose name contains `name_contains`."""
    out = []
    for status in array_msg.status:
        if name_contains in status.name:
            level = status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)
            out.append((level, status.message, {kv.key: kv.value for kv in status.values}))
    return out


@contextlib.contextmanager
def node_with_frame_timing(params: Mapping[str, Any], env: Mapping[str, str], namespace: str, harness_name: str
                           ) -> Iterator[tuple[NodeProcess, Any, Any, Collector]]:
    """segment_node in its own process under `namespace`, and a harness that publishes its two camera topics and
    collects its ~/frame_timing: yields (node, rgb publisher, x publisher, frame_timing collector) once the node
    has subscribed and the timing topic is connected. At the end the node must exit 0.
    """
    node = NodeProcess(params, env, namespace=namespace)
    harness = Harness(harness_name)
    try:
        base = f"{namespace}/segment_node"
        rgb_pub, x_pub = harness.publisher(f"{base}/rgb/image"), harness.publisher(f"{base}/x/image")
        timing = harness.collect(f"{base}/frame_timing", String)
        assert harness.wait_for_subscribers([rgb_pub, x_pub], 90), f"node never subscribed:\n{node.output}"
        assert harness.wait_for_publishers([f"{base}/frame_timing"], 30), node.output
        time.sleep(1.0)  # the node's frame_timing publisher sees our subscription before the first pair
        yield node, rgb_pub, x_pub, timing
    finally:
        harness.close()
        code = node.stop()
        assert code == 0, f"node exited with {code}:\n{node.output}"
