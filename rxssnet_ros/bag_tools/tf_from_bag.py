# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The tf tree recorded in a bag (/tf_static, /tf), and lookups through it: pure numpy, no tf2 needed.

`TransformTree.add(parent, child, rotation, translation, stamp_ns, static)` takes the edges of
tf2_msgs/TFMessage messages (p_parent = R p_child + t); `lookup(target, source, stamp_ns)` composes the chain
source -> ... -> common ancestor -> ... -> target and returns (R (3, 3), t (3,)) with p_target = R p_source + t,
what tf2's `lookup_transform(target, source, time)` gives. Static edges hold for every time; a dynamic edge (/tf)
takes its latest value at or before `stamp_ns` (its first value before that), as a robot's tf buffer would
answer without interpolation. `tree_from_bag(source)` reads both topics of a `BagSource`.

For `x_alignment` the extrinsic X optical frame -> RGB optical frame is `lookup(rgb_frame_id, x_frame_id)`,
as the live node asks tf2 (`x_extrinsic_source: tf`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rxssnet_core.errors import RXSSNetError
from rxssnet_core.transforms import homogeneous, quaternion_from_rotation, rotation_from_quaternion
from rxssnet_ros.ros_time import stamp_ns

TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"
TF_TOPICS = (TF_STATIC_TOPIC, TF_TOPIC)


class TransformError(RXSSNetError, LookupError):
    """No chain of recorded transforms connects two frames; the message names both and what the bag has."""


@dataclass
class _Edge:
    parent: str
    static: bool
    stamps: list[int] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list)

    def at(self, stamp_ns: int | None) -> np.ndarray:
        if self.static or stamp_ns is None:
            return self.matrices[-1]
        index = bisect.bisect_right(self.stamps, stamp_ns) - 1
        return self.matrices[max(index, 0)]


class TransformTree:
    """Recorded tf edges (child -> parent), looked up as tf2 does. See the module docstring."""

    def __init__(self) -> None:
        self._edges: dict[str, _Edge] = {}

    def __len__(self) -> int:
        return len(self._edges)

    @property
    def frames(self) -> list[str]:
        return sorted(set(self._edges) | {edge.parent for edge in self._edges.values()})

    def add(self, parent: str, child: str, rotation: Any, translation: Any, stamp_ns: int = 0,
            static: bool = True) -> None:
        """One edge: p_parent = R p_child + t. A later static edge replaces an earlier one (as tf2 does); dynamic
        edges keep their history, sorted by stamp.
        """
        parent, child = parent.lstrip("/"), child.lstrip("/")  # tf2 ignores a leading slash
        if not parent or not child or parent == child:
            raise TransformError(f"transform {parent!r} -> {child!r} is not an edge (empty or self frame id)")
        edge = self._edges.get(child)
        if edge is None or edge.parent != parent or (static and not edge.static):
            edge = self._edges[child] = _Edge(parent, static)
        matrix = homogeneous(rotation, translation)
        if static:
            edge.stamps, edge.matrices = [int(stamp_ns)], [matrix]
            return
        index = bisect.bisect_right(edge.stamps, int(stamp_ns))
        edge.stamps.insert(index, int(stamp_ns))
        edge.matrices.insert(index, matrix)

    def _to_root(self, frame: str, stamp_ns: int | None) -> list[tuple[str, np.ndarray]]:
        """[(frame, T_root<-frame), ...] from `frame` up to its root (T of the root itself is the identity)."""
        chain, transform, current = [(frame, np.eye(4))], np.eye(4), frame
        while current in self._edges:
            edge = self._edges[current]
            transform = edge.at(stamp_ns) @ transform
            current = edge.parent
            if any(name == current for name, _ in chain):
                raise TransformError(f"the recorded tf tree has a loop through {current!r}")
            chain.append((current, transform))
        return chain

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(R, t) with p_target = R p_source + t, through the lowest common ancestor. Raises TransformError."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(3), np.zeros(3)
        up_source = self._to_root(source, stamp_ns)  # (ancestor, T_ancestor<-source)
        up_target = dict(self._to_root(target, stamp_ns))  # ancestor -> T_ancestor<-target
        for ancestor, source_in_ancestor in up_source:
            if ancestor in up_target:
                matrix = np.linalg.inv(up_target[ancestor]) @ source_in_ancestor
                return matrix[:3, :3], matrix[:3, 3]
        known = ", ".join(self.frames) or "none"
        raise TransformError(f"no recorded transform connects {source!r} to {target!r}; the bag's tf frames are: "
                             f"{known}. Record /tf_static with both camera frames (robot_state_publisher or "
                             "static_transform_publisher), or pass the extrinsic as options")


def add_tf_message(tree: TransformTree, msg: Any, static: bool) -> int:
    """Adds every transform of a tf2_msgs/TFMessage (rosbags or rclpy); returns how many."""
    for item in msg.transforms:
        q, t = item.transform.rotation, item.transform.translation
        tree.add(str(item.header.frame_id), str(item.child_frame_id), rotation_from_quaternion(q.x, q.y, q.z, q.w),
                 (t.x, t.y, t.z), stamp_ns(item.header.stamp), static)
    return len(msg.transforms)


def tree_from_messages(messages: Iterable[tuple[str, Any]]) -> TransformTree:
    """A tree from (topic, TFMessage) pairs; /tf_static edges are static, the others dynamic."""
    tree = TransformTree()
    for topic, msg in messages:
        add_tf_message(tree, msg, static=topic == TF_STATIC_TOPIC)
    return tree


def tree_from_bag(source: Any, typestore: Any) -> TransformTree:
    """The tf tree of a `BagSource` (a separate pass over /tf_static and /tf only; cheap next to images)."""
    topics = {t for t in TF_TOPICS if t in source.topics}
    messages = ((topic, typestore.deserialize_cdr(data, msgtype))
                for topic, msgtype, _, data in source.messages(topics)) if topics else iter(())
    return tree_from_messages(messages)


def write_tf_static(bag: Any, transforms: list[tuple[str, str, Any, Any]], stamp_ns: int,
                    topic: str = TF_STATIC_TOPIC) -> None:
    """Writes one tf2_msgs/TFMessage of (parent, child, R (3, 3), t (3,)) edges with a `BagWriter` (latched on
    /tf_static, as robot_state_publisher offers it).
    """
    types = bag.typestore.types
    stamped = []
    for parent, child, rotation, translation in transforms:
        qx, qy, qz, qw = quaternion_from_rotation(rotation)
        tx, ty, tz = (float(v) for v in np.asarray(translation, dtype=np.float64).reshape(3))
        transform = types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=tx, y=ty, z=tz),
            rotation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw))
        stamped.append(types["geometry_msgs/msg/TransformStamped"](
            header=bag.header(stamp_ns, parent), child_frame_id=child, transform=transform))
    bag.write_message(topic, types["tf2_msgs/msg/TFMessage"](transforms=stamped), stamp_ns,
                      latched=topic == TF_STATIC_TOPIC)
