# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The demo's X-camera drop-out: withhold X for a stretch of frames, follow the node's ~/mode, score each mode.

    dropout = XDropout.middle_third(frames)            # which frames lose their X image
    gated = DropoutNode(node, x_topic, dropout)        # play_bag(gated, ...) publishes X only outside the stretch
    timeline = ModeTimeline()                          # ~/mode callback -> timeline.on_mode(msg.data)
    timeline.on_labels(stamp_ns, labels)               # ~/labels callback: the label map and the mode it came in
    per_mode = timeline.metrics(truth_of_stamp, class_names)   # {mode: SegmentationMetrics} from the live labels

A label counts in the mode the node last announced on ~/mode before the label arrived. The node announces a
switch on its health timer (health_check_period), so a label published in the same instant as a switch may be
counted in the neighbouring mode; frames whose X was withheld can only have been served without X.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rxssnet_core.data import build_dataset
from rxssnet_core.evaluation.metrics import ConfusionMatrix, SegmentationMetrics
from rxssnet_ros.bag_tools.bag_layout import read_dataset_info

FUSED = "fused"  # the node's mode with both inputs (rxssnet_core.input_health.MODES)


@dataclass(frozen=True)
class XDropout:
    """X images of frames first .. first + count - 1 (in bag order) are withheld: the X camera is unplugged."""

    first: int
    count: int

    def __post_init__(self) -> None:
        if self.first < 0 or self.count < 0:
            raise ValueError(f"XDropout(first={self.first}, count={self.count}) needs first >= 0 and count >= 0")

    @classmethod
    def middle_third(cls, frames: int) -> XDropout:
        """Drop X for the middle third of `frames`: fused before, the drop-out, fused again after."""
        return cls(first=frames // 3, count=frames // 3)

    def drops(self, index: int) -> bool:
        return self.first <= index < self.first + self.count


class DroppingPublisher:
    """A publisher that passes every message except the `dropout` ones (counted in publish order)."""

    def __init__(self, publisher: Any, dropout: XDropout) -> None:
        self._publisher = publisher
        self._dropout = dropout
        self.index = 0  # messages offered so far
        self.dropped: list[int] = []  # their indices

    def publish(self, message: Any) -> None:
        if self._dropout.drops(self.index):
            self.dropped.append(self.index)
        else:
            self._publisher.publish(message)
        self.index += 1

    def __getattr__(self, name: str) -> Any:  # topic_name, get_subscription_count, ...: the real publisher's
        return getattr(self._publisher, name)


class DropoutNode:
    """Stands in for the rclpy node given to `bag_player.play_bag`: the publisher of `x_topic` drops the
    `dropout` frames, every other call goes to the real node.
    """

    def __init__(self, node: Any, x_topic: str, dropout: XDropout) -> None:
        self._node = node
        self._x_topic = x_topic
        self._dropout = dropout
        self.x_publisher: DroppingPublisher | None = None

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        publisher = self._node.create_publisher(msg_type, topic, qos)
        if topic != self._x_topic:
            return publisher
        self.x_publisher = DroppingPublisher(publisher, self._dropout)
        return self.x_publisher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


def mode_of(message_data: str) -> str:
    """The mode in a ~/mode message (JSON {"mode": ..., "cause": ...}); an unreadable one reads as its text."""
    try:
        return str(json.loads(message_data)["mode"])
    except (ValueError, KeyError, TypeError):
        return message_data


@dataclass
class ModeTimeline:
    """The node's announced modes and, per label stamp, the mode it came in. Call from one thread (executor)."""

    mode: str = FUSED  # the node starts fused (and says so on the latched ~/mode)
    switches: list[str] = field(default_factory=list)  # every announced mode, in order
    labels: dict[int, tuple[str, np.ndarray]] = field(default_factory=dict)  # stamp -> (mode, labels)
    overlay_modes: dict[int, str] = field(default_factory=dict)  # stamp -> mode, for the pictures
    after_input: list[str] = field(default_factory=list)  # modes announced once the cameras stopped for good
    input_ended: bool = False

    def on_mode(self, data: str) -> None:
        if self.input_ended:
            self.after_input.append(mode_of(data))
            return
        self.mode = mode_of(data)
        self.switches.append(self.mode)

    def end_of_input(self) -> None:
        """The cameras stop here (the bag ended): the node rightly reports them silent, but that is not part of
        the drop-out, and labels still in flight belong to the mode they were made in.
        """
        self.input_ended = True

    def on_labels(self, stamp_ns: int, labels: np.ndarray) -> None:
        self.labels[stamp_ns] = (self.mode, labels)

    def on_overlay(self, stamp_ns: int) -> None:
        self.overlay_modes[stamp_ns] = self.mode

    def frames_per_mode(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for mode, _ in self.labels.values():
            counts[mode] = counts.get(mode, 0) + 1
        return counts

    def confusion(self, truth_of_stamp: Callable[[int], np.ndarray | None], class_names: list[str]
                  ) -> dict[str, ConfusionMatrix]:
        """{mode: confusion matrix} of the received labels against the ground truth of their stamps, plus
        "all" (every label). Labels whose stamp has no ground truth are skipped.
        """
        matrices = {"all": ConfusionMatrix(len(class_names), class_names=class_names)}
        for stamp in sorted(self.labels):
            mode, labels = self.labels[stamp]
            truth = truth_of_stamp(stamp)
            if truth is None:
                continue
            if mode not in matrices:
                matrices[mode] = ConfusionMatrix(len(class_names), class_names=class_names)
            matrices[mode].update(labels, truth)
            matrices["all"].update(labels, truth)
        return matrices

    def metrics(self, truth_of_stamp: Callable[[int], np.ndarray | None], class_names: list[str]
                ) -> dict[str, SegmentationMetrics]:
        return {mode: matrix.compute() for mode, matrix in self.confusion(truth_of_stamp, class_names).items()}


def per_mode_markdown(metrics: Mapping[str, SegmentationMetrics], frames: Mapping[str, int],
                      dropout: XDropout, switches: list[str]) -> str:
    """The demo report's per-mode section: mIoU and frame count per mode, from the live graph."""
    lines = ["# mIoU per mode, from the live ROS graph", "",
             f"The X camera drops out for frames {dropout.first}..{dropout.first + dropout.count - 1} of the bag "
             "(its images are not published) and comes back. Each label from segment_node counts in the mode "
             "the node last announced on ~/mode before it arrived.", "",
             f"Modes announced: {' -> '.join(switches) or 'none'}", "",
             "| mode | frames | mIoU (%) | " + " | ".join(f"{n} IoU (%)" for n in _names(metrics)) + " |",
             "|---|---:|---:|" + "---:|" * len(_names(metrics))]
    for mode, scores in metrics.items():
        count = sum(frames.values()) if mode == "all" else frames.get(mode, 0)
        ious = " | ".join("n/a" if v != v else f"{100 * v:.1f}" for v in scores.iou)
        lines.append(f"| {mode} | {count} | {100 * scores.miou:.1f} | {ious} |")
    return "\n".join(lines) + "\n"


def score_modes(dataset_root: Path, bag: Path, timeline: ModeTimeline, dropout: XDropout,
                dropped_stamps: list[int], out_dir: Path) -> tuple[dict[str, SegmentationMetrics], Path]:
    """MIoU per mode of the labels the node published in the live graph, against the bag's ground truth (the
    synthetic test split); writes ros_miou_per_mode.md and .json into `out_dir`.
    """
    dataset = build_dataset("synthetic_fusion", dataset_root, "test")
    index_of_stem = {stem: index for index, stem in enumerate(dataset.stems)}
    index_of_stamp = {frame["stamp_ns"]: index_of_stem[frame["stem"]]
                      for frame in (read_dataset_info(bag) or {}).get("frames", [])}

    def truth(stamp: int) -> np.ndarray | None:
        return dataset.read_raw(index_of_stamp[stamp]).label if stamp in index_of_stamp else None

    per_mode = timeline.metrics(truth, list(dataset.info.class_names))
    md_path = out_dir / "ros_miou_per_mode.md"
    md_path.write_text(per_mode_markdown(per_mode, timeline.frames_per_mode(), dropout, timeline.switches))
    (out_dir / "ros_miou_per_mode.json").write_text(json.dumps(
        {"modes_announced": timeline.switches, "modes_after_input_ended": timeline.after_input,
         "frames_per_mode": timeline.frames_per_mode(),
         "x_dropped_stamps": dropped_stamps, "label_modes": {str(k): v[0] for k, v in timeline.labels.items()},
         "modes": {mode: metrics.to_dict() for mode, metrics in per_mode.items()}}, indent=2, default=float))
    return per_mode, md_path


def _names(metrics: Mapping[str, SegmentationMetrics]) -> list[str]:
    for scores in metrics.values():
        return list(scores.class_names)
    return []


def draw_mode(image: np.ndarray, mode: str) -> np.ndarray:
    """A copy of the (H, W, 3) RGB image with the node's mode written in its top-left corner (red if degraded)."""
    out = np.ascontiguousarray(image).copy()
    scale = max(0.3, out.shape[0] / 400.0)
    colour = (255, 255, 255) if mode == FUSED else (255, 60, 60)
    (width, height), _ = cv2.getTextSize(mode, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (width + 4, height + 6), (0, 0, 0), thickness=-1)
    cv2.putText(out, mode, (2, height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return out
