# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The managed variant (-p lifecycle:=true), driven through lifecycle_msgs services from the harness process.

configure loads the model and parameters (here from config/thermal.yaml), activate creates the topics,
deactivate removes them and keeps the model, cleanup unloads it.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, image_msg, ros_child_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = pathlib.Path(__file__).resolve().parents[1]
NS = "/lc"
NODE = f"{NS}/segment_node"
LOGGER = "lc.segment_node"
MS = 1_000_000
H, W = 48, 64


@pytest.fixture(scope="module")
def managed(tiny_checkpoint):
    node = NodeProcess({"lifecycle": True, "checkpoint": str(tiny_checkpoint), "input_qos": "reliable"},
                       ros_child_env(), namespace=NS,
                       extra_args=["--params-file", str(REPO / "config" / "thermal.yaml")])
    harness = Harness("lifecycle_harness")
    try:
        yield harness, node
    finally:
        harness.close()
        code = node.stop()
        assert code == 0, f"exit {code}:\n{node.output}"


def _state(harness) -> str:
    from lifecycle_msgs.srv import GetState

    return harness.call(GetState, f"{NODE}/get_state", GetState.Request(), timeout=60).current_state.label


def _transition(harness, transition_id: int) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    request = ChangeState.Request(transition=Transition(id=transition_id))
    return harness.call(ChangeState, f"{NODE}/change_state", request, timeout=120).success


def _wait_graph(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_configure_activate_deactivate_cleanup(managed):
    from lifecycle_msgs.msg import Transition

    harness, node = managed
    rgb_pub = harness.publisher(f"{NODE}/rgb/image")
    x_pub = harness.publisher(f"{NODE}/x/image")
    labels = harness.collect(f"{NODE}/labels")
    graph = harness.node

    assert _state(harness) == "unconfigured", node.output
    assert graph.count_publishers(f"{NODE}/labels") == 0

    assert _transition(harness, Transition.TRANSITION_CONFIGURE), node.output
    assert _state(harness) == "inactive"
    assert len(harness.log_lines(LOGGER, "loaded model")) == 1 or harness.wait_for_log(LOGGER, "loaded model", 5)
    assert "x_alignment=resize" in harness.log_lines(LOGGER, "loaded model")[0], "config/thermal.yaml applies"
    assert graph.count_publishers(f"{NODE}/labels") == 0, "an inactive node publishes nothing"

    def answered(stamp: int) -> bool:
        rgb = np.full((H, W, 3), stamp % 251, np.uint8)
        x_pub.publish(image_msg(np.zeros((H, W), np.uint8), "mono8", stamp))
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        return labels.wait_for(lambda m: stamp in labels.by_stamp(), 20)

    assert _transition(harness, Transition.TRANSITION_ACTIVATE), node.output
    assert _state(harness) == "active"
    assert _wait_graph(lambda: graph.count_publishers(f"{NODE}/labels") == 1)
    assert harness.wait_for_subscribers([rgb_pub, x_pub], 30)
    assert answered(1_000 * MS), node.output[-2000:]

    assert _transition(harness, Transition.TRANSITION_DEACTIVATE)
    assert _state(harness) == "inactive"
    assert _wait_graph(lambda: graph.count_publishers(f"{NODE}/labels") == 0), "deactivate removes the outputs"
    assert _wait_graph(lambda: rgb_pub.get_subscription_count() == 0), "deactivate removes the inputs"

    assert _transition(harness, Transition.TRANSITION_ACTIVATE)
    assert harness.wait_for_subscribers([rgb_pub, x_pub], 30)
    assert _wait_graph(lambda: graph.count_publishers(f"{NODE}/labels") == 1)
    assert answered(2_000 * MS), node.output[-2000:]
    assert len(harness.log_lines(LOGGER, "loaded model")) == 1, "re-activation must not reload the model"

    assert _transition(harness, Transition.TRANSITION_DEACTIVATE)
    assert _transition(harness, Transition.TRANSITION_CLEANUP)
    assert _state(harness) == "unconfigured"
    assert harness.wait_for_log(LOGGER, "model unloaded", 5)

    assert _transition(harness, Transition.TRANSITION_CONFIGURE)
    assert harness.logs.wait_for(lambda m: len(harness.log_lines(LOGGER, "loaded model")) == 2, 10)
    assert node.proc.poll() is None
