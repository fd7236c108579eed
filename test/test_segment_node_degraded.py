# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node's degraded modes (detect_input_failures): every failure kind of each camera switches the mode
within its configured time, labels keep flowing (and are the degraded mode's labels), ~/mode and /diagnostics
name the cause, and recovery brings back fused output. Real rclpy, the node in its own process.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, diagnostic_values, image_msg, image_to_numpy, ros_child_env, torch_threads

H, W = 64, 80
MS = 1_000_000
PERIOD_S = 0.05
NS = "/seg_deg"
LIMITS = {"x_timeout": 0.5, "rgb_timeout": 0.5, "frozen_timeout": 0.5, "failure_enter_time": 0.2,
          "failure_exit_time": 0.5, "health_check_period": 0.05}
# Scheduling and DDS delivery on a loaded 2-core machine, on top of each kind's configured time.
SLACK_S = 1.5
# (stream that fails, cause, configured time until the switch, expected mode)
FAILURES = [
    ("x", "silent", LIMITS["x_timeout"], "rgb_only"),
    ("x", "frozen", LIMITS["frozen_timeout"], "rgb_only"),
    ("x", "blank", LIMITS["failure_enter_time"], "rgb_only"),
    ("x", "nonfinite", LIMITS["failure_enter_time"], "rgb_only"),
    ("rgb", "saturated", LIMITS["failure_enter_time"], "x_only"),
    ("rgb", "silent", LIMITS["rgb_timeout"], "x_only"),
]


def _frame(index: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(index)
    return (rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            rng.uniform(20.0, 60.0, (H, W)).astype(np.float32))  # float thermal: can carry NaN


def _failing(stream: str, cause: str, index: int, frozen: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    rgb, x = _frame(index)
    if cause == "silent":
        return (None, x) if stream == "rgb" else (rgb, None)
    if cause == "frozen":
        return rgb, frozen
    if cause == "blank":
        return rgb, np.zeros_like(x)
    if cause == "nonfinite":
        x = x.copy()
        x[: int(0.7 * H)] = np.nan
        return rgb, x
    return np.full_like(rgb, 255), x  # saturated RGB


@pytest.fixture(scope="module")
def paper_recipe_checkpoint(tiny_checkpoint, tmp_path_factory):
    """tiny_checkpoint's weights, its metadata saying it was trained without modality dropout (the paper's recipe):
    the node must warn that its degraded modes will be poor, and still run them."""
    from rxssnet_core import load_model, save_model

    model = load_model(tiny_checkpoint)
    path = tmp_path_factory.mktemp("paper_recipe") / "paper.safetensors"
    save_model(model, path, metadata={**model.metadata,
                                      "recipe": {"modality_dropout": {"x_rate": 0.0, "rgb_rate": 0.0}}})
    return path


@pytest.fixture(scope="module")
def node_graph(paper_recipe_checkpoint):
    node = NodeProcess({"checkpoint": str(paper_recipe_checkpoint), "input_qos": "reliable", "diagnostics_period": 0.2,
                        "log_throttle_period": 60.0, "detect_input_failures": True,
                        "x_missing_policy": "rgb_only", "rgb_missing_policy": "x_only", **LIMITS},
                       ros_child_env(), namespace=NS)
    harness = Harness("degraded_test_harness")
    try:
        yield harness, node
    finally:
        harness.close()
        code = node.stop()
        assert code == 0 and "Traceback" not in node.output, node.output


@pytest.mark.ros
@pytest.mark.slow
def test_each_failure_switches_mode_keeps_labels_and_recovers(node_graph, tiny_checkpoint) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    from rxssnet_core import Segmenter

    harness, node = node_graph
    assert node.wait_for_line("trained without modality dropout", 60), node.output  # said once, at start-up
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint)
    rgb_pub = harness.publisher(f"{NS}/segment_node/rgb/image")
    x_pub = harness.publisher(f"{NS}/segment_node/x/image")
    labels = harness.collect(f"{NS}/segment_node/labels")
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    modes = harness.collect(f"{NS}/segment_node/mode", String, latched)
    assert harness.wait_for_subscribers([rgb_pub, x_pub], 90), node.output
    # Latched: the first mode ("fused") reaches a late subscriber.
    assert modes.wait_for(lambda m: len(m) > 0, 30), node.output
    assert json.loads(modes.messages[0].data)["mode"] == "fused"

    index = 0
    frames: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}

    def publish(rgb: np.ndarray | None, x: np.ndarray | None) -> int:
        nonlocal index
        index += 1
        stamp = 1_700_000_000 * 1_000_000_000 + index * 50 * MS
        frames[stamp] = (rgb, x)
        if x is not None:
            x_pub.publish(image_msg(x, "32FC1", stamp))
        if rgb is not None:
            rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        time.sleep(PERIOD_S)
        return stamp

    def mode_now() -> dict:
        return json.loads(modes.messages[-1].data)

    def publish_until(make, predicate, timeout: float) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            publish(*make())
            if predicate():
                return time.monotonic() - started
        return None

    def healthy():
        return _frame(index + 1)

    def publish_until_labels(make) -> tuple[int, np.ndarray]:
        """Publish until labels come back for one of these frames (the worker keeps only the latest pair, so
        not every frame gets labels); returns that frame's stamp and labels."""
        sent: list[int] = []
        found = publish_until(lambda: make(), lambda: sent.append(max(frames)) or
                              any(s in labels.by_stamp() for s in sent), 15)
        assert found is not None, f"no labels while publishing:\n{node.output[-3000:]}"
        stamp = next(s for s in sent if s in labels.by_stamp())
        return stamp, image_to_numpy(labels.by_stamp()[stamp])

    assert publish_until(healthy, lambda: len(labels.messages) > 5, 60) is not None, node.output
    report = []
    for stream, cause, configured, expected_mode in FAILURES:
        # Healthy first: fused output, checked against the library's own segmentation of the pair.
        assert publish_until(healthy, lambda: mode_now()["mode"] == "fused", 20) is not None, (cause, node.output)
        stamp, got = publish_until_labels(healthy)
        rgb, x = frames[stamp]
        with torch_threads(1):
            np.testing.assert_array_equal(got, segmenter.segment(rgb, x).labels)

        frozen = _frame(index)[1]
        diagnostics_before = len(harness.diagnostics.messages)
        delay = publish_until(lambda s=stream, c=cause, f=frozen: _failing(s, c, index + 1, f),
                              lambda m=expected_mode: mode_now()["mode"] == m, configured + SLACK_S + 3)
        assert delay is not None, f"{stream} {cause}: mode stayed {mode_now()}:\n{node.output[-3000:]}"
        report.append(f"{stream} {cause}: {delay:.2f} s (configured {configured} s)")
        assert delay <= configured + LIMITS["health_check_period"] + SLACK_S, report[-1]
        state = mode_now()
        assert state[stream] == cause and cause in state["cause"], state

        # Labels keep flowing, and they are the degraded mode's labels.
        stamp, got = publish_until_labels(lambda s=stream, c=cause, f=frozen: _failing(s, c, index + 1, f))
        rgb, x = frames[stamp]
        with torch_threads(1):
            expected = (segmenter.segment(rgb, None) if expected_mode == "rgb_only"
                        else segmenter.segment(np.zeros((H, W, 3), np.uint8), x)).labels
        np.testing.assert_array_equal(got, expected)

        # /diagnostics: WARN, naming the mode and the cause.
        def warns(msgs, c=cause, m=expected_mode, since=diagnostics_before):
            return any(level == 1 and m in text and c in text for msg in msgs[since:]
                       for level, text, _ in diagnostic_values(msg, "segment_node"))
        assert harness.diagnostics.wait_for(warns, 5), f"no WARN naming {cause}"

        # Recovery: back to fused by itself, after failure_exit_time of good input.
        delay = publish_until(healthy, lambda: mode_now()["mode"] == "fused", 20)
        assert delay is not None, f"{stream} {cause}: no recovery:\n{node.output[-3000:]}"
        assert delay >= LIMITS["failure_exit_time"] - PERIOD_S
        stamp, got = publish_until_labels(healthy)
        rgb, x = frames[stamp]
        with torch_threads(1):
            fused = segmenter.segment(rgb, x).labels
            assert not np.array_equal(fused, segmenter.segment(rgb, None).labels)  # the check can fail
        np.testing.assert_array_equal(got, fused)
    print("\nswitch delays: " + "; ".join(report))

    # Every switch announced once: one ~/mode message and one log line per change.
    changes = [json.loads(m.data)["mode"] for m in modes.messages]
    assert changes == ["fused"] + [m for _, _, _, mode in FAILURES for m in (mode, "fused")], changes
    assert len(harness.log_lines("segment_node", "-> fused")) == len(FAILURES)
    assert isinstance(harness.diagnostics.messages[-1], DiagnosticArray)
