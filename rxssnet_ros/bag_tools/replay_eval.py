# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Score a perception model on a rosbag2 offline, the way the live node would see the bag (no ROS needed).

Replay: messages are read in bag (log) time order; RGB and X images go, with their header stamps, into the node's
own pairing rule (`synchronizer.PairingRule`, message_filters' ApproximateTime policy with the node's `slop` and
`queue_size`); every pair goes through the node's frame pipeline (`rxssnet_core.frame_pipeline`: validate,
register X, segment) and is scored against the ground-truth image whose stamp equals the RGB stamp EXACTLY
(`bag_tools.scoring.ExactStampScorer`, shared with the live `eval_node`). At the end of the bag, a set the rule
still holds back (it waits for a later message to prove the set optimal) is released as if the cameras kept
publishing.

Real recordings: image topics may be sensor_msgs/CompressedImage (image_transport's compressed / compressedDepth;
a topic given by its base name is found at `<topic>/compressed|compressedDepth`), decoded by `image_conversion`;
the extrinsic X -> RGB may come from the bag's /tf_static and /tf (`extrinsic_source`, `bag_tools.tf_from_bag`,
looked up by the two images' frame ids as tf2 would on the robot); a ROS 1 bag is read by `BagSource`. Without
labels (`labels=False`) the replay reports what it can: latency, throughput, pairing statistics and the predicted
class shares (`bag_tools.recording_stats`).

Bad input never stops the replay: undecodable messages, unsupported encodings, out-of-order stamps, RGB frames
without an X within slop, ground truth without a frame, and a truncated file are counted and named in the report
(`bag_tools.issues.IssueLog`). A truncated MCAP file is salvaged (`bag_tools.bag_source`): every complete message
before the damage is used.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rxssnet_core.frame_pipeline import FrameOutput, FramePipeline, FrameProblem, FrameWants, make_aligner
from rxssnet_core.preprocessing import PreprocessError
from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_layout import DATASET_INFO_TOPIC, camera_info_topic, check_topic_name, parse_dataset_info
from rxssnet_ros.bag_tools.bag_source import BagSource
from rxssnet_ros.bag_tools.bag_writer import IMAGE_TYPES, BagWriter, get_typestore, prepare_output
from rxssnet_ros.bag_tools.issues import IssueLog, format_stamp
from rxssnet_ros.bag_tools.recording_stats import RecordingStats
from rxssnet_ros.bag_tools.scoring import ExactStampScorer
from rxssnet_ros.bag_tools.tf_from_bag import TF_TOPICS, TransformError, TransformTree, tree_from_bag
from rxssnet_ros.compressed_image import TRANSPORTS
from rxssnet_ros.image_conversion import image_to_array, rgb_from_image, x_from_image
from rxssnet_ros.image_encodings import ImageConversionError
from rxssnet_ros.ros_time import stamp_ns
from rxssnet_ros.synchronizer import PairingRule

GT_ENCODINGS = ("mono8", "mono16", "8UC1", "16UC1")
EXTRINSIC_SOURCES = ("auto", "parameters", "tf")
# on_frame(rgb stamp ns, x stamp ns, RGB array, FrameOutput with confidence): each segmented pair, in order
FrameCallback = Callable[[int, int, np.ndarray, FrameOutput], None]
# Far beyond any real stamp: fed to both streams after the last message so that the pairing rule releases the
# set it holds back (as the next frames of still-running cameras would).
_FLUSH_OFFSET_NS = 10**15


# ---------------------------------------------------------------------------------------------------------------
# The replay


@dataclass
class BagEvalConfig:
    """What to replay and how (the node's parameter names in brackets).

    slop_s [slop], queue_size [queue_size], inter_message_lower_bound_s [inter_message_lower_bound]: the pairing
    rule. alignment: `AlignmentConfig` [x_alignment...] or None (X must be registered already). rgb_info_topic /
    x_info_topic: CameraInfo for alignments that need it (default: next to the image topics). write_predictions:
    a bag to write with every input message plus `<prediction_ns>/labels` (mono8/mono16) and
    `<prediction_ns>/overlay` (rgb8). warmup: untimed segmentations before the first frame.
    extrinsic_source [x_extrinsic_source]: parameters (the alignment's own), tf (the bag's /tf_static and /tf,
    looked up from the X image's frame id to the RGB image's) or auto (tf when the alignment needs an extrinsic,
    has none and the bag records tf). labels: False for a recording without ground truth (no gt topic needed).
    """

    rgb_topic: str = "/camera/rgb/image"
    x_topic: str = "/camera/x/image"
    gt_topic: str = "/camera/labels_gt"
    slop_s: float = 0.05
    queue_size: int = 10
    inter_message_lower_bound_s: float = 0.0
    alignment: Any = None
    rgb_info_topic: str | None = None
    x_info_topic: str | None = None
    write_predictions: Path | None = None
    predictions_storage: str = "mcap"
    overwrite: bool = False
    prediction_ns: str = "/segment_node"
    overlay_alpha: float = 0.5
    warmup: int = 1
    max_pending: int | None = None
    progress: bool = True
    extrinsic_source: str = "auto"
    labels: bool = True

    def __post_init__(self) -> None:
        for option, value in (("--rgb-topic", self.rgb_topic), ("--x-topic", self.x_topic),
                              ("--gt-topic", self.gt_topic), ("--prediction-ns", self.prediction_ns)):
            check_topic_name(value, option)
        if len({self.rgb_topic, self.x_topic, self.gt_topic}) != 3:
            raise BagError(f"--rgb-topic {self.rgb_topic}, --x-topic {self.x_topic} and --gt-topic "
                           f"{self.gt_topic} must be three different topics")
        if not (math.isfinite(self.slop_s) and self.slop_s >= 0):
            raise BagError(f"--slop={self.slop_s!r} must be >= 0 seconds (the node's default is 0.05)")
        if not (isinstance(self.queue_size, int) and self.queue_size >= 1):
            raise BagError(f"--queue-size={self.queue_size!r} must be an integer >= 1 (the node's default is 10)")
        if not (math.isfinite(self.inter_message_lower_bound_s) and self.inter_message_lower_bound_s >= 0):
            raise BagError(f"--inter-message-lower-bound={self.inter_message_lower_bound_s!r} must be >= 0 s")
        if not 0.0 <= self.overlay_alpha <= 1.0:
            raise BagError(f"--overlay-alpha={self.overlay_alpha!r} must be in [0, 1]")
        if self.warmup < 0:
            raise BagError(f"--warmup={self.warmup!r} must be >= 0")
        if self.extrinsic_source not in EXTRINSIC_SOURCES:
            raise BagError(f"--x-extrinsic-source={self.extrinsic_source!r} is unknown; choose one of "
                           f"{', '.join(EXTRINSIC_SOURCES)}")
        self.rgb_info_topic = self.rgb_info_topic or camera_info_topic(self.rgb_topic)
        self.x_info_topic = self.x_info_topic or camera_info_topic(self.x_topic)

    @property
    def labels_topic(self) -> str:
        return f"{self.prediction_ns}/labels"

    @property
    def overlay_topic(self) -> str:
        return f"{self.prediction_ns}/overlay"


@dataclass
class BagEvalResult:
    """Scores, latencies and problems of one bag replay."""

    bag: Path
    metrics: Any
    class_names: list[str]
    latencies_ms: list[float]
    stage_ms: dict[str, list[float]]
    frames: list[dict[str, Any]]
    issues: IssueLog
    counts: dict[str, Any]
    dataset_info: dict[str, Any] | None = None
    predictions_bag: Path | None = None
    recording: dict[str, Any] | None = None

    @property
    def miou(self) -> float:
        return float(self.metrics.miou)


@dataclass
class _Frame:
    stamp_ns: int
    log_time_ns: int
    header: Any
    array: np.ndarray


class _Replay:
    """State of one replay: decoders, pairing rule, scorer, optional predictions writer."""

    def __init__(self, source: BagSource, segmenter: Any, config: BagEvalConfig, writer: Any,
                 tf_tree: TransformTree | None = None, on_frame: FrameCallback | None = None) -> None:
        self.source, self.segmenter, self.config, self.writer = source, segmenter, config, writer
        self.on_frame = on_frame
        self.issues = source.issues
        self.typestore = get_typestore()
        self.scorer = ExactStampScorer(segmenter.num_classes, class_names=list(segmenter.class_names),
                                       issues=self.issues, max_pending=config.max_pending,
                                       gt_topic=config.gt_topic, prediction_topic=config.labels_topic)
        # the live node's rule, from the same parameters (rxssnet_ros.synchronizer)
        self.pairer = PairingRule(config.slop_s, config.queue_size, config.inter_message_lower_bound_s).pairer(
            2, self._on_pair)
        self.pipeline = FramePipeline(segmenter, make_aligner(config.alignment, segmenter.preprocess_config))
        self.tf_tree = tf_tree
        self.stats = RecordingStats(segmenter.num_classes)
        self.ready: list[tuple[_Frame, _Frame]] = []
        self.camera_info: dict[str, Any] = {}
        self.latencies: list[float] = []
        self.stage_ms: dict[str, list[float]] = {}
        self.frames: list[dict[str, Any]] = []
        self.dataset_info: dict[str, Any] | None = None
        self.counts = {"rgb_messages": 0, "x_messages": 0, "gt_messages": 0, "rgb_fed": 0, "x_fed": 0, "pairs": 0,
                       "segmented": 0}
        self.last_stamp = 0
        self.rgb_stamps: set[int] = set()
        self.warmed = config.warmup == 0

    # -- messages -------------------------------------------------------------------------------------------

    def handle(self, topic: str, msgtype: str, log_time: int, data: bytes) -> None:
        config = self.config
        if topic == DATASET_INFO_TOPIC and self.dataset_info is None:
            msg = self._deserialize(topic, msgtype, data)
            if msg is not None:
                try:
                    self.dataset_info = parse_dataset_info(msg.data, f"{self.source.path} topic {topic}")
                except BagError as error:
                    self.issues.add("dataset_info", topic, f"{error}; class names come from the checkpoint")
            return
        if topic in (config.rgb_info_topic, config.x_info_topic):
            msg = self._deserialize(topic, msgtype, data)
            if msg is not None:
                self.camera_info[topic] = msg
            return
        role = {config.rgb_topic: "rgb", config.x_topic: "x", config.gt_topic: "gt"}.get(topic)
        if role is None or (role == "gt" and not config.labels):
            return
        self.counts[f"{role}_messages"] += 1
        msg = self._deserialize(topic, msgtype, data)
        if msg is None:
            return
        frame = self._decode(role, topic, msg, log_time)
        if frame is None:
            return
        self.last_stamp = max(self.last_stamp, frame.stamp_ns)
        if role == "rgb":
            self.rgb_stamps.add(frame.stamp_ns)
        if role == "gt":
            self.scorer.add_ground_truth(frame.stamp_ns, frame.array)
            return
        index = 0 if role == "rgb" else 1
        if self.pairer.add(index, frame.stamp_ns, frame):
            self.counts[f"{role}_fed"] += 1
            self.stats.stream(role, frame.stamp_ns)
        else:
            self.issues.add("out_of_order", topic, "", format_stamp(frame.stamp_ns))
        self._run_ready()

    def _deserialize(self, topic: str, msgtype: str, data: bytes) -> Any:
        try:
            return self.typestore.deserialize_cdr(data, msgtype)
        except Exception as error:  # rosbags raises assorted errors for corrupt CDR
            self.issues.add("deserialize", topic, f"{type(error).__name__}: {str(error)[:120]}")
            return None

    def _decode(self, role: str, topic: str, msg: Any, log_time: int) -> _Frame | None:
        stamp = stamp_ns(msg.header.stamp)
        what = {"rgb": "RGB image", "x": "X image", "gt": "ground truth"}[role]
        try:
            if role == "rgb":
                array = rgb_from_image(msg, role=f"{what} on {topic}")
            elif role == "x":
                array = x_from_image(msg, role=f"{what} on {topic}")
            else:
                array = image_to_array(msg, role=f"{what} on {topic}", allowed=GT_ENCODINGS)
        except ImageConversionError as error:
            if error.cause == "encoding" or error.cause == "channels":
                encoding = getattr(msg, "encoding", None) or getattr(msg, "format", "")
                self.issues.add("unsupported_encoding", topic, repr(str(encoding)), format_stamp(stamp))
            else:
                self.issues.add("bad_image", topic, error.cause, f"{format_stamp(stamp)}: {error}")
            return None
        return _Frame(stamp, log_time, msg.header, array)

    # -- pairs ------------------------------------------------------------------------------------------------

    def _on_pair(self, rgb: _Frame | None, x: _Frame | None) -> None:
        if rgb is not None and x is not None:  # the end-of-bag flush pair is (None, None)
            self.ready.append((rgb, x))

    def _run_ready(self) -> None:
        while self.ready:
            rgb, x = self.ready.pop(0)
            self.counts["pairs"] += 1
            self._segment(rgb, x)

    def _segment(self, rgb: _Frame, x: _Frame) -> None:
        """One pair through the frame pipeline (the node's own per-frame path), then scored and written."""
        x_info = self.camera_info.get(self.config.x_info_topic)
        rgb_info = self.camera_info.get(self.config.rgb_info_topic)
        if self.tf_tree is not None:
            try:
                rotation, translation = self.tf_tree.lookup(str(rgb.header.frame_id), str(x.header.frame_id),
                                                            rgb.stamp_ns)
            except TransformError as error:
                self.issues.add("tf", None, str(error), format_stamp(rgb.stamp_ns))
                return
            self.pipeline.aligner.set_extrinsic(rotation, translation)
        try:
            if not self.warmed:
                for _ in range(self.config.warmup):
                    self.pipeline.run(rgb.array, x.array, rgb_info, x_info)
                self.warmed = True
            output = self.pipeline.run(rgb.array, x.array, rgb_info, x_info,
                                       FrameWants(confidence=self.on_frame is not None,
                                                  overlay=self.writer is not None,
                                                  overlay_alpha=self.config.overlay_alpha))
        except FrameProblem as problem:
            kind = problem.cause if problem.cause in ("no_camera_info", "alignment") else "segment_error"
            kind = "alignment" if problem.cause == "size_mismatch" else kind
            self.issues.add(kind, None, str(problem), format_stamp(rgb.stamp_ns))
            return
        except (PreprocessError, ValueError) as error:
            self.issues.add("segment_error", None, str(error), format_stamp(rgb.stamp_ns))
            return
        self.counts["segmented"] += 1
        total = float(output.timing["total_ms"])
        self.latencies.append(total)
        for key, value in output.timing.items():
            self.stage_ms.setdefault(key, []).append(float(value))
        self.frames.append({"stamp_ns": rgb.stamp_ns, "x_stamp_ns": x.stamp_ns, "latency_ms": total})
        self.stats.pair(rgb.stamp_ns, x.stamp_ns, output.labels)
        if self.config.labels:
            self.scorer.add_prediction(rgb.stamp_ns, output.labels)
        if self.writer is not None:
            self._write_prediction(rgb, output)
        if self.on_frame is not None:
            self.on_frame(rgb.stamp_ns, x.stamp_ns, rgb.array, output)

    def _write_prediction(self, rgb: _Frame, output: FrameOutput) -> None:
        writer, labels = self.writer, output.labels
        stamp, frame_id = rgb.stamp_ns, str(rgb.header.frame_id)
        writer.write_image(self.config.labels_topic, labels, "mono8" if labels.dtype == np.uint8 else "mono16",
                           stamp, frame_id, log_time_ns=rgb.log_time_ns)
        writer.write_image(self.config.overlay_topic, output.overlay, "rgb8", stamp, frame_id,
                           log_time_ns=rgb.log_time_ns)

    def finish(self) -> None:
        """Releases the held-back set, then counts what stayed unpaired or unmatched."""
        flush = self.last_stamp + _FLUSH_OFFSET_NS
        self.pairer.add(0, flush, None)
        self.pairer.add(1, flush, None)
        self._run_ready()
        config, pairer = self.config, self.pairer
        queue_drops = pairer.dropped_queue_full
        for index, topic in enumerate((config.rgb_topic, config.x_topic)):
            if queue_drops[index]:
                self.issues.add("queue_full", topic, f"queue_size={config.queue_size}", count=queue_drops[index])
        paired = self.counts["pairs"]
        no_x = self.counts["rgb_fed"] - paired - queue_drops[0]
        if no_x > 0:
            self.issues.add("rgb_without_x", config.rgb_topic, f"slop {config.slop_s:g} s", count=no_x)
        unused_x = self.counts["x_fed"] - paired - queue_drops[1]
        if unused_x > 0:
            self.issues.add("x_unused", config.x_topic, "", count=unused_x)
        if config.labels:
            self.scorer.finish(self.rgb_stamps)


def _resolve_topics(source: BagSource, config: BagEvalConfig) -> BagEvalConfig:
    """The config with each image topic as recorded: the topic itself, or (given by its image_transport base
    name) the one `<topic>/compressed|compressedDepth` the bag has; BagError for a missing topic or a type that
    is no image.
    """
    listing = ", ".join(f"{t.topic} ({t.msgtype})" for t in source.topics.values()) or "none"
    resolved = {}
    options = [("--rgb-topic", "rgb_topic"), ("--x-topic", "x_topic")] + \
        ([("--gt-topic", "gt_topic")] if config.labels else [])
    for option, name in options:
        topic = getattr(config, name)
        if topic not in source.topics:
            found = [f"{topic}/{t}" for t in TRANSPORTS[1:] if f"{topic}/{t}" in source.topics]
            if len(found) == 1:
                topic = found[0]
        info = source.topics.get(topic)
        if info is None:
            hint = " (or --no-labels for a recording without ground truth)" if option == "--gt-topic" else ""
            raise BagError(f"{option} {topic} is not in bag {source.path}; its topics are: {listing}. Pass the "
                           f"right {option}{hint}")
        if info.msgtype not in IMAGE_TYPES:
            raise BagError(f"{option} {topic} in bag {source.path} has type {info.msgtype}; bag eval needs "
                           f"{' or '.join(IMAGE_TYPES)}")
        resolved[name] = topic
    return dataclasses.replace(config, **resolved)


def _tf_tree(source: BagSource, config: BagEvalConfig, issues: IssueLog) -> TransformTree | None:
    """The bag's tf tree when the extrinsic comes from it (extrinsic_source tf, or auto and it is needed)."""
    alignment = config.alignment
    needs = alignment is not None and (alignment.mode == "depth" or (alignment.mode == "homography"
                                                                     and alignment.homography is None))
    recorded = any(topic in source.topics for topic in TF_TOPICS)
    if config.extrinsic_source == "parameters" or not needs:
        return None
    given = alignment.extrinsic_rotation is not None or alignment.extrinsic_translation is not None
    if config.extrinsic_source == "auto" and (given or not recorded):
        return None
    if not recorded:
        raise BagError(f"--x-extrinsic-source tf: bag {source.path} has no {' or '.join(TF_TOPICS)}; record "
                       "them with the cameras, or pass --x-extrinsic-rotation/--x-extrinsic-translation")
    tree = tree_from_bag(source, get_typestore())
    if not len(tree):
        issues.add("tf", None, f"{' and '.join(TF_TOPICS)} in the bag hold no transform")
    return tree


def _class_names(segmenter: Any, dataset_info: dict[str, Any] | None, issues: IssueLog) -> list[str]:
    names = list(segmenter.class_names)
    if dataset_info is None:
        return names
    bag_names = [str(n) for n in dataset_info["class_names"]]
    if len(bag_names) != len(names):
        raise BagError(
            f"the bag's dataset {dataset_info.get('dataset')!r} has {len(bag_names)} classes but the checkpoint "
            f"predicts {len(names)}; evaluate with a checkpoint trained on {dataset_info.get('dataset')!r}")
    if bag_names != names:
        issues.add("class_names", DATASET_INFO_TOPIC, f"class names differ: checkpoint {names}, bag {bag_names}; "
                   "the report uses the bag's")
    return bag_names


def evaluate_bag(bag: str | Path, segmenter: Any, config: BagEvalConfig | None = None,
                 on_message: Callable[[int], None] | None = None, on_frame: FrameCallback | None = None
                 ) -> BagEvalResult:
    """Replays `bag` through the pairing rule and `segmenter` and scores it against the ground-truth topic.

    on_frame: called with every segmented pair (its output then carries the confidence; `rxssnet bag mine`).
    Returns a `BagEvalResult`; problems in the bag are counted in `result.issues`, never raised. Raises BagError
    for a missing topic, a wrong message type, an unreadable (not salvageable) file, or a class-count mismatch
    between the bag's dataset and the checkpoint.
    """
    config = config or BagEvalConfig()
    issues = IssueLog()
    bag_path = Path(bag)
    with BagSource(bag_path, issues) as source:
        config = _resolve_topics(source, config)
        tf_tree = _tf_tree(source, config, issues)
        out = None
        if config.write_predictions is not None:
            if Path(config.write_predictions).resolve() == bag_path.resolve():
                raise BagError("--write-predictions must name a new bag, not the input bag")
            out = prepare_output(config.write_predictions, config.overwrite, "--write-predictions")
        wanted = None if out is not None else {config.rgb_topic, config.x_topic, config.gt_topic,
                                               DATASET_INFO_TOPIC, config.rgb_info_topic, config.x_info_topic}
        known = [t.count for name, t in source.topics.items() if wanted is None or name in wanted]
        total = None if any(c is None for c in known) else sum(known)
        writer_context = BagWriter(out, config.predictions_storage) if out is not None else None
        writer = writer_context.__enter__() if writer_context is not None else None
        try:
            replay = _Replay(source, segmenter, config, writer, tf_tree, on_frame)
            for index, (topic, msgtype, log_time, data) in enumerate(tqdm(
                    source.messages(wanted), total=total, desc=f"replaying {bag_path.name}", unit="msg",
                    disable=not config.progress, dynamic_ncols=True)):
                if writer is not None:
                    info = source.topics[topic]
                    writer.write_raw(topic, msgtype, log_time, data, msgdef=info.msgdef or None,
                                     digest=info.digest or None)
                replay.handle(topic, msgtype, log_time, data)
                if on_message is not None:
                    on_message(index)
            replay.finish()
        except BaseException as error:
            if writer_context is not None:
                writer_context.__exit__(type(error), error, error.__traceback__)
            raise
        if writer_context is not None:
            writer_context.__exit__(None, None, None)
    class_names = _class_names(segmenter, replay.dataset_info, issues)
    stems = {f["stamp_ns"]: f["stem"] for f in (replay.dataset_info or {}).get("frames", [])}
    scores = {f.stamp_ns: f for f in replay.scorer.frames}
    for frame in replay.frames:
        frame["stem"] = stems.get(frame["stamp_ns"])
        score = scores.get(frame["stamp_ns"])
        frame["scored"] = score is not None
        frame["pixel_accuracy"] = score.pixel_accuracy if score is not None else None
    counts = dict(replay.counts, scored=replay.scorer.scored)
    recording = replay.stats.summary(class_names, replay.latencies, replay.pairer.dropped_queue_full,
                                     {"rgb": config.rgb_topic, "x": config.x_topic})
    return BagEvalResult(bag_path, replay.scorer.compute(), class_names, replay.latencies, replay.stage_ms,
                         replay.frames, issues, counts, replay.dataset_info, out, recording)
