# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
r"""`eval_node`: score a running segmentation node live against a ground-truth topic.

Topics (relative, remap them):
    in   ~/labels (the segment node's label images: mono8 / mono16 / 8UC1 / 16UC1)
         ~/gt     (ground-truth label images of the same frames, 255 = ignore; e.g. /camera/labels_gt of a bag
                   written by `rxssnet bag convert`)

Labels and ground truth are paired by EXACT header stamp (the segment node copies the RGB header to its labels,
the converted bag stamps ground truth with the RGB stamp), with the same `ExactStampScorer` as
`rxssnet bag eval`, so the live and offline scores of one bag agree exactly. The report (metrics.json with a
`live_eval` section, metrics.md, confusion_matrix.png, per_class_iou.png) is written to `output_dir` once: on
SIGINT/SIGTERM (a second signal while it writes is ignored), after `expected_frames` scored frames, or after
`idle_timeout` seconds without messages.

Classes come from (first that is set): `class_names`, `checkpoint` (its metadata), `dataset_info` (a bag from
`rxssnet bag convert`, or a .json/.yaml file with `class_names`), `num_classes` (names class_0..).

    ros2 run rxssnet_ros eval_node --ros-args -r '~/labels:=/segment_node/labels' -r '~/gt:=/camera/labels_gt' \
        -p dataset_info:=mfnet_test_bag -p output_dir:=live_eval
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from rxssnet_core.errors import RXSSNetError
from rxssnet_core.models.checkpoints import load_checkpoint
from rxssnet_ros.bag_tools.bag_layout import read_dataset_info
from rxssnet_ros.bag_tools.issues import IssueLog, format_stamp
from rxssnet_ros.bag_tools.report_plots import write_eval_report
from rxssnet_ros.bag_tools.scoring import ExactStampScorer
from rxssnet_ros.image_conversion import image_to_array
from rxssnet_ros.image_encodings import ImageConversionError
from rxssnet_ros.node_runner import asks_for_help, run_until_stopped
from rxssnet_ros.ros_time import stamp_ns

NODE_NAME = "rxssnet_eval"
LABEL_ENCODINGS = ("mono8", "mono16", "8UC1", "16UC1")


class EvalConfigError(RXSSNetError, ValueError):
    """A parameter of the eval node is invalid; the message names it and the fix."""


@dataclass(frozen=True)
class _Param:
    name: str
    default: Any
    description: str


PARAMETERS = (
    _Param("num_classes", 0, "Number of classes K (0: from class_names, checkpoint or dataset_info)."),
    _Param("class_names", [""], "Class names (K of them); empty: from checkpoint or dataset_info."),
    _Param("checkpoint", "", "Checkpoint whose metadata gives the class names (.safetensors or .pt)."),
    _Param("dataset_info", "", "A bag written by `rxssnet bag convert` (or a .json/.yaml with class_names)."),
    _Param("ignore_index", 255, "Ground-truth value that is not scored."),
    _Param("output_dir", "rxssnet_eval", "Folder for metrics.json, metrics.md and the plots."),
    _Param("expected_frames", 0, "Write the report and exit after this many scored frames (0: never)."),
    _Param("idle_timeout", 0.0, "Write the report and exit after this many seconds without messages (0: never)."),
    _Param("qos", "reliable", "QoS of both subscriptions: reliable or sensor_data (best effort)."),
    _Param("queue_depth", 100, "Depth of both subscriptions."),
    _Param("max_pending", 1000, "Unmatched messages held per side before the oldest is discarded."),
    _Param("log_every", 100, "Log the running count every N scored frames (0: never)."),
)


# ---------------------------------------------------------------------------------------------------------------
# Class names (plain functions: unit-testable without a node)


def _names_from_file(path: Path) -> list[str]:
    if path.is_dir() or path.suffix in (".mcap", ".db3"):
        info = read_dataset_info(path)
        if info is None:
            raise EvalConfigError(f"parameter 'dataset_info': bag {path} has no /rxssnet/dataset_info topic; write "
                                  "the bag with `rxssnet bag convert`, or set class_names or num_classes")
        return [str(n) for n in info["class_names"]]
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise EvalConfigError(f"parameter 'dataset_info': {path} is neither a bag nor a .json/.yaml file")

    try:
        data = yaml.safe_load(path.read_text())  # JSON is YAML too
    except (OSError, yaml.YAMLError) as error:
        raise EvalConfigError(f"parameter 'dataset_info': cannot read {path}: {error}") from error
    names = data.get("class_names") if isinstance(data, dict) else None
    if not isinstance(names, list) or not names:
        raise EvalConfigError(f"parameter 'dataset_info': {path} has no class_names list")
    return [str(n) for n in names]


def resolve_class_names(class_names: list[str], num_classes: int, checkpoint: str, dataset_info: str) -> list[str]:
    """The K class names from the parameters (see the module docstring for the order)."""
    names = [n for n in class_names if n]
    source = "class_names"
    if not names and checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise EvalConfigError(f"parameter 'checkpoint': {checkpoint} does not exist")
        config, _, metadata = load_checkpoint(path)
        names = [str(n) for n in metadata.get("class_names") or []] or [
            f"class_{i}" for i in range(config.num_classes)]
        source = "checkpoint"
    if not names and dataset_info:
        path = Path(dataset_info)
        if not path.exists():
            raise EvalConfigError(f"parameter 'dataset_info': {dataset_info} does not exist")
        names = _names_from_file(path)
        source = "dataset_info"
    if not names and num_classes > 0:
        return [f"class_{i}" for i in range(num_classes)]
    if not names:
        raise EvalConfigError("the class count is unknown: set one of the parameters class_names, num_classes, "
                              "checkpoint or dataset_info")
    if num_classes > 0 and num_classes != len(names):
        raise EvalConfigError(f"parameter 'num_classes'={num_classes} disagrees with the {len(names)} class names "
                              f"from {source}; leave num_classes at 0")
    return names


# ---------------------------------------------------------------------------------------------------------------
# The node


class EvalNode(Node):
    """Subscribes to ~/labels and ~/gt, scores exact-stamp pairs, writes the report once."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(NODE_NAME)
        self.stop = stop
        values = {p.name: self.declare_parameter(p.name, p.default).value for p in PARAMETERS}
        self.settings = self._check(values)
        self.class_names = resolve_class_names(list(values["class_names"] or []), values["num_classes"],
                                               values["checkpoint"], values["dataset_info"])
        self.issues = IssueLog()
        self.labels_topic = self.resolve_topic_name("~/labels")
        self.gt_topic = self.resolve_topic_name("~/gt")
        self.scorer = ExactStampScorer(len(self.class_names), ignore_index=values["ignore_index"],
                                       class_names=self.class_names, issues=self.issues,
                                       max_pending=values["max_pending"], gt_topic=self.gt_topic,
                                       prediction_topic=self.labels_topic)
        self.received = {"labels": 0, "gt": 0}
        self.last_activity = time.monotonic()
        self.reported = False
        reliability = (ReliabilityPolicy.RELIABLE if values["qos"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=values["queue_depth"], reliability=reliability)
        self.create_subscription(Image, "~/labels", self._on_labels, qos)
        self.create_subscription(Image, "~/gt", self._on_gt, qos)
        self.create_timer(0.25, self._check_idle)
        self.get_logger().info(
            f"scoring {self.labels_topic} against {self.gt_topic} by exact stamp: K={len(self.class_names)} "
            f"({', '.join(self.class_names[:6])}{', ...' if len(self.class_names) > 6 else ''}), report in "
            f"{values['output_dir']}")

    @staticmethod
    def _check(values: dict[str, Any]) -> dict[str, Any]:
        checks = (
            ("num_classes", values["num_classes"] >= 0, "must be >= 0"),
            ("ignore_index", 0 <= values["ignore_index"] <= 65535, "must be in [0, 65535]"),
            ("expected_frames", values["expected_frames"] >= 0, "must be >= 0"),
            ("idle_timeout", math.isfinite(values["idle_timeout"]) and values["idle_timeout"] >= 0,
             "must be >= 0 seconds"),
            ("qos", values["qos"] in ("reliable", "sensor_data"), "must be reliable or sensor_data"),
            ("queue_depth", values["queue_depth"] >= 1, "must be >= 1"),
            ("max_pending", values["max_pending"] >= 1, "must be >= 1"),
            ("log_every", values["log_every"] >= 0, "must be >= 0"),
            ("output_dir", bool(values["output_dir"]), "must name a folder"),
        )
        for name, ok, text in checks:
            if not ok:
                raise EvalConfigError(f"parameter '{name}'={values[name]!r} {text}")
        return values

    # -- callbacks ----------------------------------------------------------------------------------------

    def _decode(self, msg: Any, topic: str, what: str) -> Any:
        try:
            return image_to_array(msg, role=f"{what} on {topic}", allowed=LABEL_ENCODINGS)
        except ImageConversionError as error:
            stamp = format_stamp(stamp_ns(msg.header.stamp))
            if error.cause in ("encoding", "channels"):
                self.issues.add("unsupported_encoding", topic, repr(str(msg.encoding)), stamp)
            else:
                self.issues.add("bad_image", topic, error.cause, f"{stamp}: {error}")
            self.get_logger().warning(str(error), throttle_duration_sec=5.0)
            return None

    def _on_labels(self, msg: Any) -> None:
        self._receive(msg, "labels")

    def _on_gt(self, msg: Any) -> None:
        self._receive(msg, "gt")

    def _receive(self, msg: Any, side: str) -> None:
        if self.reported:
            return
        self.last_activity = time.monotonic()
        self.received[side] += 1
        topic = self.labels_topic if side == "labels" else self.gt_topic
        array = self._decode(msg, topic, "labels" if side == "labels" else "ground truth")
        if array is None:
            return
        stamp = stamp_ns(msg.header.stamp)
        before = self.scorer.scored
        if side == "labels":
            self.scorer.add_prediction(stamp, array)
        else:
            self.scorer.add_ground_truth(stamp, array)
        scored = self.scorer.scored
        if scored > before:
            every = self.settings["log_every"]
            if every and scored % every == 0:
                self.get_logger().info(f"scored {scored} frames")
            expected = self.settings["expected_frames"]
            if expected and scored >= expected:
                self.get_logger().info(f"expected_frames={expected} reached")
                self.stop.set()

    def _check_idle(self) -> None:
        timeout = self.settings["idle_timeout"]
        if timeout and not self.reported and time.monotonic() - self.last_activity > timeout:
            self.get_logger().info(f"no messages for idle_timeout={timeout:g} s")
            self.stop.set()

    # -- report -------------------------------------------------------------------------------------------

    def write_report(self) -> Path | None:
        """Writes the report once (later calls do nothing); returns the metrics.json path."""
        if self.reported:
            return None
        self.reported = True
        self.get_logger().info(f"writing the report to {self.settings['output_dir']}")
        self.scorer.finish()
        metrics = self.scorer.compute()
        counts = {"labels_messages": self.received["labels"], "gt_messages": self.received["gt"],
                  "scored": self.scorer.scored}
        extra = {"labels_topic": self.labels_topic, "gt_topic": self.gt_topic, "frames_scored": self.scorer.scored,
                 "ignore_index": self.settings["ignore_index"]}
        paths = write_eval_report(metrics, self.settings["output_dir"], self.class_names, section="live_eval",
                                  issues=self.issues.to_list(), counts=counts, extra=extra)
        miou = "n/a" if math.isnan(metrics.miou) else f"{metrics.miou * 100:.4f}%"
        log = self.get_logger()
        if self.scorer.scored == 0:
            log.warning(f"no frame was scored: check that {self.labels_topic} and {self.gt_topic} carry images "
                        "with identical stamps")
        log.info(f"mIoU {miou} over {self.scorer.scored} frames; report: {paths['json']}")
        for text in self.issues.texts():
            log.warning(text)
        return paths["json"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of `eval_node` (ros2 run rxssnet_ros eval_node --ros-args -r '~/labels:=...' -r '~/gt:=...')."""
    argv = list(sys.argv if argv is None else argv)
    if asks_for_help(argv):
        print(__doc__)
        print("Parameters (--ros-args -p name:=value):\n")
        for param in PARAMETERS:
            print(f"  {param.name:<16} {json.dumps(param.default):<16} {param.description}")
        return 0

    return run_until_stopped(
        "eval_node", argv, EvalNode, (EvalConfigError, ValueError),
        after_spin=lambda node: node.write_report(),
        repeat_signal_note="still writing the report, please wait")


if __name__ == "__main__":
    sys.exit(main())
