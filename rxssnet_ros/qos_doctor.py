# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Explains why an input topic stays silent: no publisher, a wrong topic name, incompatible QoS or a wrong type.

ROS 2 drops a connection with incompatible QoS without delivering anything, and a typo in a topic name looks
exactly like a camera that is off. The node calls `explain_silent_input` when an input has been silent for
`input_timeout` seconds (with the publishers from `get_publishers_info_by_topic` and the graph's topic list),
and `explain_incompatible_event` when rmw reports REQUESTED_INCOMPATIBLE_QOS. Each returns one line that names
the topic, what was found and the parameter or remapping to change. Plain attribute access only: works on
rclpy's TopicEndpointInfo and QoSProfile, and on simple test objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"


def qos_profile(choice: str, depth: int = 5) -> QoSProfile:
    """sensor_data: best effort, volatile (what camera drivers offer); reliable: reliable, volatile."""
    reliability = ReliabilityPolicy.BEST_EFFORT if choice == "sensor_data" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


def _policy_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name if name is not None else value).upper()


def qos_summary(profile: Any) -> str:
    """'reliable/volatile, depth 5'-style summary of a QoS profile."""
    reliability = _policy_name(getattr(profile, "reliability", "?")).lower()
    durability = _policy_name(getattr(profile, "durability", "?")).lower()
    depth = getattr(profile, "depth", None)
    return f"{reliability}/{durability}" + (f", depth {depth}" if depth else "")


def incompatibilities(offered: Any, requested: Any, qos_parameter: str = "input_qos") -> list[str]:
    """Reasons why a publisher offering `offered` cannot reach a subscription requesting `requested`."""
    problems = []
    if (_policy_name(offered.reliability) == "BEST_EFFORT"
            and _policy_name(requested.reliability) == "RELIABLE"):
        problems.append(f"the publisher is best effort but this input requests reliable: set "
                        f"{qos_parameter}:=sensor_data (best effort matches every publisher)")
    if (_policy_name(offered.durability) == "VOLATILE"
            and _policy_name(requested.durability) == "TRANSIENT_LOCAL"):
        problems.append("the publisher is volatile but this input requests transient local durability: make the "
                        "subscription volatile")
    return problems


def _node_label(info: Any) -> str:
    namespace = getattr(info, "node_namespace", "") or ""
    name = getattr(info, "node_name", "?")
    return f"{namespace.rstrip('/')}/{name}" if namespace not in ("", "/") else f"/{name}"


def explain_silent_input(topic: str, expected_type: str, requested_qos: Any, publishers: Sequence[Any],
                         topics_and_types: Iterable[tuple[str, Sequence[str]]], silent_s: float,
                         qos_parameter: str = "input_qos", remap_hint: str = "",
                         exclude_prefix: str | None = None, own_topics: Iterable[str] = (),
                         publisher_count: Callable[[str], int] | None = None) -> str:
    """One line saying why nothing arrived on `topic` for `silent_s` seconds and what to change.

    publishers: TopicEndpointInfo-like entries for `topic`. topics_and_types: the graph's (name, [types]).
    remap_hint: how the user points this input elsewhere (e.g. "the launch argument rgb_topic").
    exclude_prefix, own_topics: our own topics (outputs under the node's name, and the node's other inputs,
    wherever they are remapped), never suggested. publisher_count(name): publishers of a topic (the node's
    `count_publishers`); a topic that only has subscribers is not a camera and is not suggested.
    """
    head = f"no message on {topic} for {silent_s:.1f} s: "
    if not publishers:
        own = set(own_topics)
        similar = sorted(name for name, types in topics_and_types
                         if expected_type in types and name != topic and name not in own
                         and not (exclude_prefix and name.startswith(exclude_prefix))
                         and (publisher_count is None or publisher_count(name) > 0))
        where = f" Topics of type {expected_type}: {', '.join(similar[:8])}." if similar else \
            f" No topic of type {expected_type} exists: is the camera driver running (same ROS_DOMAIN_ID)?"
        fix = f" Remap this input ({remap_hint})" if remap_hint else " Remap this input"
        return head + "there is no publisher on this topic (wrong topic name?)." + where + fix + \
            " to the camera's topic."
    wrong_type = [p for p in publishers if getattr(p, "topic_type", expected_type) != expected_type]
    if wrong_type:
        types = sorted({getattr(p, "topic_type", "?") for p in wrong_type})
        return head + f"{_node_label(wrong_type[0])} publishes {', '.join(types)} but this input needs " \
            f"{expected_type}; remap it to a {expected_type} topic."
    details: list[str] = []
    fixes: list[str] = []
    for info in publishers:
        offered = getattr(info, "qos_profile", None)
        problems = incompatibilities(offered, requested_qos, qos_parameter) if offered is not None else []
        details.append(f"{_node_label(info)} ({qos_summary(offered) if offered is not None else 'qos unknown'}"
                       f"{', INCOMPATIBLE' if problems else ''})")
        fixes.extend(p for p in problems if p not in fixes)
    listing = f"{len(publishers)} publisher(s): {'; '.join(details)}; this input requests " \
              f"{qos_summary(requested_qos)}."
    if fixes:
        return head + listing + " Fix: " + "; ".join(fixes) + "."
    return head + listing + " QoS is compatible, so the publisher is not publishing, or large images are lost " \
        "over best-effort UDP: use the shared-memory profile (FASTDDS_DEFAULT_PROFILES_FILE=" \
        "<share>/rxssnet_ros/config/fastdds_large_images.xml) or " + f"{qos_parameter}:=reliable."


def explain_incompatible_event(topic: str, policy_kind: Any, requested_qos: Any, total_count: int = 1,
                               qos_parameter: str = "input_qos") -> str:
    """One line for a REQUESTED_INCOMPATIBLE_QOS event on `topic` (last_policy_kind from the event info)."""
    # rclpy's QoSPolicyKind says RELIABILITY, the event's raw rmw enum RMW_QOS_POLICY_RELIABILITY.
    policy = _policy_name(policy_kind).replace("QOSPOLICYKIND.", "").replace("RMW_QOS_POLICY_", "")
    line = f"a publisher on {topic} offers QoS incompatible with this subscription " \
           f"({qos_summary(requested_qos)}), policy {policy} ({total_count} so far): no message can arrive. "
    if "RELIABILITY" in policy:
        return line + f"The publisher is best effort: set {qos_parameter}:=sensor_data."
    if "DURABILITY" in policy:
        return line + "The publisher is volatile: the subscription must be volatile too."
    return line + "Make the publisher's QoS match (ros2 topic info -v " + topic + ")."
