# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""'No output' explained: silent inputs and incompatible QoS name the publishers, the QoS and the fix.

Unit tests of the explanations, then one node whose inputs are reliable while the camera publishes best effort,
and whose X input is remapped to a misspelt topic.
"""

from __future__ import annotations

import time
import types

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, best_effort_qos, diagnostic_values, image_msg, ros_child_env

from rxssnet_ros.qos_doctor import (
    explain_incompatible_event,
    explain_silent_input,
    incompatibilities,
    qos_summary,
)

IMAGE = "sensor_msgs/msg/Image"


def qos(reliability: str, durability: str = "VOLATILE", depth: int = 5):
    return types.SimpleNamespace(reliability=types.SimpleNamespace(name=reliability),
                                 durability=types.SimpleNamespace(name=durability), depth=depth)


def publisher(profile, node="camera_driver", namespace="/", topic_type=IMAGE):
    return types.SimpleNamespace(node_name=node, node_namespace=namespace, topic_type=topic_type,
                                 qos_profile=profile)


def test_incompatibilities_reliability_and_durability():
    assert incompatibilities(qos("BEST_EFFORT"), qos("RELIABLE"))[0].endswith("set input_qos:=sensor_data "
                                                                                "(best effort matches every "
                                                                                "publisher)")
    assert incompatibilities(qos("RELIABLE"), qos("BEST_EFFORT")) == []
    assert "transient local" in incompatibilities(qos("RELIABLE"), qos("RELIABLE", "TRANSIENT_LOCAL"))[0]
    assert qos_summary(qos("RELIABLE")) == "reliable/volatile, depth 5"


def test_no_publisher_lists_topics_of_the_right_type():
    text = explain_silent_input("/cam/thermal_typo", IMAGE, qos("RELIABLE"), [],
                                [("/cam/thermal", [IMAGE]), ("/cam/rgb", [IMAGE]), ("/imu", ["sensor_msgs/msg/Imu"]),
                                 ("/me/labels", [IMAGE])], 6.0, remap_hint="launch argument x_topic",
                                exclude_prefix="/me/")
    assert text.startswith("no message on /cam/thermal_typo for 6.0 s: there is no publisher on this topic")
    assert "Topics of type sensor_msgs/msg/Image: /cam/rgb, /cam/thermal." in text
    assert "/imu" not in text and "/me/labels" not in text and "launch argument x_topic" in text
    # only topics that someone publishes, and never the node's own other input (remapped outside its namespace)
    graph = [("/cam/thermal", [IMAGE]), ("/cam/rgb", [IMAGE]), ("/cam/old_thermal", [IMAGE])]
    publishers = {"/cam/thermal": 1, "/cam/rgb": 2, "/cam/old_thermal": 0}
    text = explain_silent_input("/cam/thermal_typo", IMAGE, qos("RELIABLE"), [], graph, 6.0,
                                own_topics=["/cam/rgb"], publisher_count=publishers.__getitem__)
    assert "Topics of type sensor_msgs/msg/Image: /cam/thermal." in text
    lonely = explain_silent_input("/cam/rgb", IMAGE, qos("RELIABLE"), [], [], 6.0)
    assert "No topic of type sensor_msgs/msg/Image exists" in lonely and "ROS_DOMAIN_ID" in lonely


def test_incompatible_publisher_names_node_qos_and_fix():
    text = explain_silent_input("/cam/rgb", IMAGE, qos("RELIABLE"),
                                [publisher(qos("BEST_EFFORT"), "driver", "/camera")], [], 5.5)
    assert "1 publisher(s): /camera/driver (best_effort/volatile, depth 5, INCOMPATIBLE)" in text
    assert "Fix: the publisher is best effort but this input requests reliable: set input_qos:=sensor_data" in text


def test_compatible_but_silent_and_wrong_type():
    text = explain_silent_input("/cam/rgb", IMAGE, qos("BEST_EFFORT"), [publisher(qos("RELIABLE"))], [], 5.0)
    assert "QoS is compatible" in text and "fastdds_large_images.xml" in text
    text = explain_silent_input("/cam/rgb", IMAGE, qos("BEST_EFFORT"),
                                [publisher(qos("RELIABLE"), topic_type="sensor_msgs/msg/CompressedImage")], [], 5.0)
    assert "publishes sensor_msgs/msg/CompressedImage but this input needs sensor_msgs/msg/Image" in text


def test_incompatible_event_explanation():
    from rclpy.qos import QoSPolicyKind

    text = explain_incompatible_event("/cam/rgb", QoSPolicyKind.RELIABILITY, qos("RELIABLE"), 2)
    assert "policy RELIABILITY (2 so far)" in text and "set input_qos:=sensor_data" in text
    assert "volatile too" in explain_incompatible_event("/a", QoSPolicyKind.DURABILITY, qos("RELIABLE"))


@pytest.mark.ros
@pytest.mark.slow
def test_node_explains_incompatible_qos_and_a_wrong_topic_name(tiny_checkpoint):
    ns, logger = "/qos", "qos.segment_node"
    node = NodeProcess({"checkpoint": str(tiny_checkpoint), "input_qos": "reliable", "input_timeout": 1.5,
                        "diagnostics_period": 0.5, "log_throttle_period": 60.0}, ros_child_env(), namespace=ns,
                       remaps={"~/rgb/image": f"{ns}/cam/rgb", "~/x/image": f"{ns}/cam/thermal_typo"})
    harness = Harness("qos_harness")
    try:
        rgb_pub = harness.publisher(f"{ns}/cam/rgb", qos=best_effort_qos())  # what camera drivers offer
        x_pub = harness.publisher(f"{ns}/cam/thermal")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not harness.wait_for_log(logger, "no message on", 0.2):
            stamp = int(time.time() * 1e9)
            rgb_pub.publish(image_msg(np.zeros((8, 8, 3), np.uint8), "rgb8", stamp))
            x_pub.publish(image_msg(np.zeros((8, 8), np.uint8), "mono8", stamp))
        assert harness.wait_for_log(logger, f"{ns}/cam/thermal_typo for", 10), node.output
        assert harness.wait_for_log(logger, f"{ns}/cam/rgb offers QoS incompatible", 10), node.output
        event = harness.log_lines(logger, "offers QoS incompatible")[0]
        assert "policy RELIABILITY" in event and "set input_qos:=sensor_data" in event
        assert harness.wait_for_log(logger, f"no message on {ns}/cam/rgb for", 10), node.output
        rgb_line = harness.log_lines(logger, f"no message on {ns}/cam/rgb for")[0]
        assert "/qos_harness (best_effort/volatile" in rgb_line and "INCOMPATIBLE" in rgb_line
        assert "set input_qos:=sensor_data" in rgb_line
        x_line = harness.log_lines(logger, f"{ns}/cam/thermal_typo for")[0]
        assert "there is no publisher on this topic (wrong topic name?)" in x_line
        assert f"{ns}/cam/thermal" in x_line.split("Topics of type sensor_msgs/msg/Image:")[1]

        def explained(msgs) -> bool:
            for msg in msgs:
                for level, message, values in diagnostic_values(msg, f"{ns}/segment_node"):
                    if level >= 1 and "x_silent" in values and "rgb_silent" in values \
                            and "offers QoS incompatible" in message:
                        return True
            return False

        assert harness.diagnostics.wait_for(explained, 10), "diagnostics must carry the same explanations"
    finally:
        harness.close()
        assert node.stop() == 0, node.output
