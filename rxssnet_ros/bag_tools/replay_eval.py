"""Score a perception model on a rosbag2 offline, the way the live node would see the bag (no ROS needed).

Replay: messages are read in bag (log) time order; RGB and X images go, with their header stamps, into the node's
own pairing rule (`ApproximateTimePairer`, message_filters' ApproximateTime policy with the node's `slop` and
`queue_size`); every pair is registered (`XAligner`, optional), segmented (`Segmenter`) and scored against the
ground-truth image whose stamp equals the RGB stamp EXACTLY (`ExactStampScorer`, shared with the live
`eval_node`). At the end of the bag, a set the rule still holds back (it waits for a later message to prove the set
optimal) is released as if the cameras kept publishing.

Bad input never stops the replay: undecodable messages, unsupported encodings, out-of-order stamps, RGB frames
without an X within slop, ground truth without a frame, and a truncated file are counted and named in the report
(`IssueLog`). A truncated MCAP file is salvaged: every complete message before the damage is used.
"""

from __future__ import annotations

import math
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rxssnet_core.frame_pipeline import FrameOutput, FramePipeline, FrameProblem, FrameWants, make_aligner
from rxssnet_core.preprocessing import PreprocessError
from rxssnet_ros.bag_tools.convert import (
    DATASET_INFO_TOPIC,
    IMAGE_TYPE,
    BagError,
    camera_info_topic,
    check_topic_name,
    parse_dataset_info,
    stamp_to_ns,
)

GT_ENCODINGS = ("mono8", "mono16", "8UC1", "16UC1")
MAX_EXAMPLES = 5
# Far beyond any real stamp: fed to both streams after the last message so that the pairing rule releases the
# set it holds back (as the next frames of still-running cameras would).
_FLUSH_OFFSET_NS = 10**15


# ---------------------------------------------------------------------------------------------------------------
# Problems found in a bag: counted, named, reported


_TEMPLATES: dict[str, str] = {
    "truncated": "{detail}",
    "deserialize": "{n} message{s} on {topic} could not be deserialized ({detail})",
    "unsupported_encoding": "{n} message{s} with unsupported encoding {detail} on {topic}",
    "bad_image": "{n} message{s} on {topic} could not be decoded: {detail}",
    "out_of_order": "{n} message{s} on {topic} had a header stamp earlier than the previous one and {was} "
                    "dropped (the pairing rule skips stamps that go backwards)",
    "rgb_without_x": "{n} RGB frame{s} had no X within slop ({detail})",
    "x_unused": "{n} X frame{s} {was} not paired with any RGB frame",
    "queue_full": "{n} message{s} on {topic} {was} dropped because the pairing queue overflowed ({detail})",
    "no_camera_info": "{n} pair{s} could not be registered: {detail}",
    "alignment": "{n} pair{s} could not be registered: {detail}",
    "segment_error": "{n} pair{s} could not be segmented: {detail}",
    "no_gt": "{n} segmented frame{s} had no ground truth with the exact RGB stamp on {topic}",
    "gt_unused": "{n} ground-truth message{s} on {topic} matched no segmented frame",
    "gt_no_frame": "{n} ground-truth message{s} on {topic} had a stamp that no RGB frame has",
    "gt_frame_unsegmented": "{n} ground-truth message{s} on {topic} belonged to RGB frames that were not "
                            "segmented (see the problems above)",
    "duplicate_stamp": "{n} {detail} message{s} repeated a stamp already seen; the first one is used",
    "size_mismatch": "{n} frame{s} had ground truth of another size than the prediction: {detail}",
    "gt_out_of_range": "{n} ground-truth image{s} held ids outside [0, K) other than the ignore index "
                       "({detail}); those pixels are not counted",
    "prediction_out_of_range": "{n} prediction{s} held class ids outside [0, K): {detail}",
    "pending_overflow": "{n} unmatched {detail} message{s} {was} discarded (more than max_pending waiting)",
    "dataset_info": "{detail}",
    "class_names": "{detail}",
}


@dataclass
class Issue:
    """One kind of problem on one topic: how often, and the first few examples (stamps or reasons)."""

    kind: str
    topic: str | None
    detail: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def text(self) -> str:
        template = _TEMPLATES.get(self.kind, "{n} x {kind} on {topic}: {detail}")
        plural = self.count != 1
        return template.format(n=self.count, s="s" if plural else "", was="were" if plural else "was",
                               topic=self.topic or "-", detail=self.detail, kind=self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "topic": self.topic, "detail": self.detail, "count": self.count,
                "examples": list(self.examples), "text": self.text()}


class IssueLog:
    """Counts problems by (kind, topic, detail), keeping up to 5 examples each, in first-seen order."""

    def __init__(self) -> None:
        self._issues: dict[tuple[str, str | None, str], Issue] = {}

    def add(self, kind: str, topic: str | None = None, detail: str = "", example: Any = None, count: int = 1) -> None:
        key = (kind, topic, detail)
        issue = self._issues.setdefault(key, Issue(kind, topic, detail))
        issue.count += count
        if example is not None and len(issue.examples) < MAX_EXAMPLES:
            issue.examples.append(str(example))

    def __iter__(self) -> Iterator[Issue]:
        return iter(self._issues.values())

    def __len__(self) -> int:
        return len(self._issues)

    def count(self, kind: str) -> int:
        return sum(i.count for i in self._issues.values() if i.kind == kind)

    def texts(self) -> list[str]:
        return [issue.text() for issue in self]

    def to_list(self) -> list[dict[str, Any]]:
        return [issue.to_dict() for issue in self]


def format_stamp(stamp_ns: int) -> str:
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


# ---------------------------------------------------------------------------------------------------------------
# Exact-stamp scoring (shared with the live eval_node)


@dataclass
class FrameScore:
    """Per-frame result: stamp, labelled pixels, correctly predicted pixels."""

    stamp_ns: int
    valid_pixels: int
    correct_pixels: int

    @property
    def pixel_accuracy(self) -> float:
        return self.correct_pixels / self.valid_pixels if self.valid_pixels else float("nan")


class ExactStampScorer:
    """Matches predicted label images with ground truth by EXACT header stamp and accumulates a ConfusionMatrix.

    Either side may arrive first; unmatched messages wait (at most `max_pending` per side, oldest discarded and
    counted). Ground-truth ids outside [0, K) other than `ignore_index` are not counted (and reported).
    `finish()` reports what stayed unmatched; `compute()` returns `SegmentationMetrics`.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: list[str] | None = None,
                 issues: IssueLog | None = None, max_pending: int | None = None,
                 gt_topic: str | None = None, prediction_topic: str | None = None) -> None:
        from rxssnet_core.evaluation.metrics import ConfusionMatrix

        self.matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index, class_names=class_names)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.issues = issues if issues is not None else IssueLog()
        self.max_pending = max_pending
        self.gt_topic = gt_topic
        self.prediction_topic = prediction_topic
        self._predictions: OrderedDict[int, np.ndarray] = OrderedDict()
        self._ground_truth: OrderedDict[int, np.ndarray] = OrderedDict()
        self._done: set[int] = set()
        self.frames: list[FrameScore] = []

    @property
    def scored(self) -> int:
        return len(self.frames)

    def add_prediction(self, stamp_ns: int, labels: np.ndarray) -> bool:
        """Queue a prediction; scores it (returns True) when its ground truth is already there."""
        return self._add(int(stamp_ns), labels, self._predictions, self._ground_truth, "prediction")

    def add_ground_truth(self, stamp_ns: int, label: np.ndarray) -> bool:
        """Queue a ground-truth image; scores it (returns True) when its prediction is already there."""
        return self._add(int(stamp_ns), label, self._ground_truth, self._predictions, "ground-truth")

    def _add(self, stamp: int, array: np.ndarray, mine: OrderedDict[int, np.ndarray],
             theirs: OrderedDict[int, np.ndarray], side: str) -> bool:
        if stamp in mine or (stamp in self._done and stamp not in theirs):
            self.issues.add("duplicate_stamp", None, side, format_stamp(stamp))
            return False
        if stamp in theirs:
            other = theirs.pop(stamp)
            prediction, gt = (array, other) if side == "prediction" else (other, array)
            self._score(stamp, prediction, gt)
            return True
        mine[stamp] = array
        if self.max_pending is not None and len(mine) > self.max_pending:
            old, _ = mine.popitem(last=False)
            self.issues.add("pending_overflow", None, side, format_stamp(old))
        return False

    def _score(self, stamp: int, prediction: np.ndarray, gt: np.ndarray) -> None:
        from rxssnet_core.evaluation.metrics import MetricsError

        self._done.add(stamp)
        if prediction.shape != gt.shape:
            self.issues.add("size_mismatch", self.gt_topic,
                            f"prediction {prediction.shape[1]}x{prediction.shape[0]}, ground truth "
                            f"{gt.shape[1]}x{gt.shape[0]} (WxH)", format_stamp(stamp))
            return
        k = self.num_classes
        gt64 = gt.astype(np.int64, copy=False)
        outside = (gt64 >= k) & (gt64 != self.ignore_index)
        if outside.any():
            ids = sorted({int(v) for v in np.unique(gt64[outside])})
            self.issues.add("gt_out_of_range", self.gt_topic, f"K={k}, ignore_index={self.ignore_index}",
                            f"{format_stamp(stamp)}: ids {ids[:8]}")
        try:
            self.matrix.update(prediction, gt)
        except MetricsError as error:
            self.issues.add("prediction_out_of_range", self.prediction_topic, str(error), format_stamp(stamp))
            return
        valid = (gt64 >= 0) & (gt64 < k) & (gt64 != self.ignore_index)
        correct = int(np.count_nonzero((prediction.astype(np.int64, copy=False) == gt64) & valid))
        self.frames.append(FrameScore(stamp, int(np.count_nonzero(valid)), correct))

    def finish(self, frame_stamps: set[int] | None = None) -> None:
        """Reports what never found its partner (once; later calls add nothing). With `frame_stamps` (every RGB
        stamp seen), unmatched ground truth is split into "its frame was not segmented" and "no such frame"."""
        for stamp in self._predictions:
            self.issues.add("no_gt", self.gt_topic, "", format_stamp(stamp))
        for stamp in self._ground_truth:
            kind = "gt_unused" if frame_stamps is None else (
                "gt_frame_unsegmented" if stamp in frame_stamps else "gt_no_frame")
            self.issues.add(kind, self.gt_topic, "", format_stamp(stamp))
        self._predictions.clear()
        self._ground_truth.clear()

    def pending(self) -> tuple[int, int]:
        """(predictions, ground-truth images) waiting for their partner."""
        return len(self._predictions), len(self._ground_truth)

    def compute(self) -> Any:
        return self.matrix.compute()


# ---------------------------------------------------------------------------------------------------------------
# Reading a bag, salvaging a truncated MCAP file


@dataclass
class TopicInfo:
    """A topic of a bag: message type, definition and hash (to copy it), message count (None when unknown)."""

    topic: str
    msgtype: str
    msgdef: str = ""
    digest: str = ""
    count: int | None = None


class BagSource:
    """Messages of a rosbag2 (a directory, or a bare .mcap / .db3 file) in log-time order, as
    (topic, msgtype, log_time_ns, raw CDR bytes). A truncated or corrupt file does not raise: reading stops, the
    damage is recorded in `issues`, and for MCAP the complete records before it are salvaged."""

    def __init__(self, path: str | Path, issues: IssueLog) -> None:
        from rosbags.rosbag2 import Reader, ReaderError

        self.path = Path(path)
        self.issues = issues
        self.topics: dict[str, TopicInfo] = {}
        self.salvage_files: list[Path] = []
        self._reader: Any = None
        if not self.path.exists():
            raise FileNotFoundError(f"bag {str(self.path)!r} does not exist")
        target = self.path
        if self.path.is_dir() and not (self.path / "metadata.yaml").exists():
            files = sorted(self.path.glob("*.mcap")) + sorted(self.path.glob("*.db3"))
            if len(files) != 1:
                raise BagError(f"{str(self.path)!r} is not a rosbag2: it has no metadata.yaml and "
                               f"{'no' if not files else 'several'} .mcap/.db3 file(s); pass the bag directory "
                               "or one .mcap/.db3 file")
            target = files[0]
        try:
            reader = Reader(target)
            reader.open()
        except ReaderError as error:
            mcaps = [target] if target.suffix == ".mcap" else sorted(target.glob("*.mcap")) if target.is_dir() else []
            if not mcaps:
                raise BagError(f"cannot read bag {str(self.path)!r}: {error}. The file is truncated or corrupt; "
                               "for sqlite3 bags try `sqlite3 <file>.db3 .recover`, or re-record it") from error
            self._salvage_setup(mcaps, str(error))
            return
        except (OSError, ValueError, KeyError) as error:
            raise BagError(f"cannot read bag {str(self.path)!r}: {error}") from error
        self._reader = reader
        for conn in reader.connections:
            if conn.topic in self.topics:
                continue  # a second connection of one topic (another publisher): same type, read together
            self.topics[conn.topic] = TopicInfo(conn.topic, conn.msgtype, conn.msgdef.data or "", conn.digest or "",
                                                reader.topics[conn.topic].msgcount)

    # -- normal reading ---------------------------------------------------------------------------------------

    def messages(self, topics: set[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
        """Yields (topic, msgtype, log_time_ns, data) of `topics` (all when None) in log-time order."""
        if self._reader is None:
            yield from self._salvage_messages(topics)
            return
        connections = [c for c in self._reader.connections if topics is None or c.topic in topics]
        if not connections:
            return
        read = 0
        iterator = self._reader.messages(connections)
        while True:
            try:
                conn, log_time, data = next(iterator)
            except StopIteration:
                return
            except Exception as error:  # rosbags raises ReaderError, struct.error, sqlite errors...
                self.issues.add("truncated", None, f"bag {self.path} is damaged: reading stopped after {read} "
                                f"messages ({type(error).__name__}: {error}); the rest of the bag is lost")
                return
            read += 1
            yield conn.topic, conn.msgtype, int(log_time), bytes(data)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- MCAP salvage -----------------------------------------------------------------------------------------

    def _salvage_setup(self, files: list[Path], reason: str) -> None:
        self.salvage_files = files
        self._salvage_reason = reason
        # One scan for the channels (topics and types); messages are read again when iterated.
        for _ in self._scan_mcap(files, want=None, record_channels=True):
            pass

    def _salvage_messages(self, topics: set[str] | None) -> Iterator[tuple[str, str, int, bytes]]:
        count = 0
        for item in self._scan_mcap(self.salvage_files, want=topics, record_channels=False):
            count += 1
            yield item
        names = ", ".join(f.name for f in self.salvage_files)
        self.issues.add("truncated", None, f"bag {self.path} is truncated or damaged ({names}: "
                        f"{self._salvage_reason}); salvaged {count} complete messages before the damage, "
                        "the rest is lost")

    def _scan_mcap(self, files: list[Path], want: set[str] | None, record_channels: bool
                   ) -> Iterator[tuple[str, str, int, bytes]]:
        schemas: dict[int, tuple[str, str]] = {}
        channels: dict[int, str] = {}
        for path in files:
            data = path.read_bytes()
            if not data.startswith(b"\x89MCAP0\r\n"):
                continue
            yield from self._scan_records(memoryview(data), 8, len(data), schemas, channels, want, record_channels)

    def _scan_records(self, buf: memoryview, pos: int, end: int, schemas: dict[int, tuple[str, str]],
                      channels: dict[int, str], want: set[str] | None, record_channels: bool
                      ) -> Iterator[tuple[str, str, int, bytes]]:
        in_chunk: list[tuple[int, str, str, bytes]] = []
        while pos + 9 <= end:
            opcode = buf[pos]
            (length,) = struct.unpack_from("<Q", buf, pos + 1)
            body_start, body_end = pos + 9, pos + 9 + length
            partial = body_end > end
            if partial and opcode != 0x06:
                break
            try:
                if opcode == 0x03:  # schema: id, name, encoding, data
                    sid = struct.unpack_from("<H", buf, body_start)[0]
                    name, offset = _read_string(buf, body_start + 2)
                    _, offset = _read_string(buf, offset)
                    (size,) = struct.unpack_from("<I", buf, offset)
                    schemas[sid] = (name, bytes(buf[offset + 4: offset + 4 + size]).decode("utf-8", "replace"))
                elif opcode == 0x04:  # channel: id, schema id, topic, encoding, metadata
                    cid, sid = struct.unpack_from("<HH", buf, body_start)
                    topic, _ = _read_string(buf, body_start + 4)
                    channels[cid] = topic
                    if record_channels and topic not in self.topics:
                        msgtype, msgdef = schemas.get(sid, ("", ""))
                        self.topics[topic] = TopicInfo(topic, msgtype, msgdef, "", None)
                elif opcode == 0x05:  # message: channel, sequence, log time, publish time, data
                    cid, _, log_time = struct.unpack_from("<HIQ", buf, body_start)
                    topic = channels.get(cid)
                    if topic is not None and not record_channels and (want is None or topic in want):
                        in_chunk.append((log_time, topic, self.topics[topic].msgtype,
                                         bytes(buf[body_start + 22: body_end])))
                elif opcode == 0x06:  # chunk: start, end, size, crc, compression, records
                    inner = self._chunk_records(buf, body_start, min(body_end, end), partial)
                    if inner is not None:
                        yield from self._scan_records(memoryview(inner), 0, len(inner), schemas, channels, want,
                                                      record_channels)
                    if partial:
                        break
            except (struct.error, IndexError, UnicodeDecodeError):
                break  # a damaged record: nothing after it can be trusted
            pos = body_end
        # Within a chunk the writer's order is kept by log time, as rosbags' reader does.
        for log_time, topic, msgtype, payload in sorted(in_chunk, key=lambda m: m[0]):
            yield topic, msgtype, log_time, payload

    @staticmethod
    def _chunk_records(buf: memoryview, start: int, end: int, partial: bool) -> bytes | None:
        if start + 28 > end:
            return None
        compression, offset = _read_string(buf, start + 28)
        (size,) = struct.unpack_from("<Q", buf, offset)
        records = bytes(buf[offset + 8: min(offset + 8 + size, end)])
        if compression == "":
            return records  # a partial uncompressed chunk still holds its complete records
        if partial:
            return None
        if compression == "zstd":
            try:
                from backports import zstd
            except ImportError:
                from compression import zstd  # type: ignore[no-redef]  # Python >= 3.14
            return zstd.decompress(records)
        if compression == "lz4":
            import lz4.frame

            return lz4.frame.decompress(records)
        return None


def _read_string(buf: memoryview, offset: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, offset)
    end = offset + 4 + size
    if end > len(buf):
        raise struct.error("string beyond the end of the record")
    return bytes(buf[offset + 4: end]).decode("utf-8"), end


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

    def __init__(self, source: BagSource, segmenter: Any, config: BagEvalConfig, writer: Any) -> None:
        from rxssnet_ros.synchronizer import ApproximateTimePairer

        self.source, self.segmenter, self.config, self.writer = source, segmenter, config, writer
        self.issues = source.issues
        self.typestore = _typestore()
        self.scorer = ExactStampScorer(segmenter.num_classes, class_names=list(segmenter.class_names),
                                       issues=self.issues, max_pending=config.max_pending,
                                       gt_topic=config.gt_topic, prediction_topic=config.labels_topic)
        bound = round(config.inter_message_lower_bound_s * 1e9)
        self.pairer = ApproximateTimePairer(num_streams=2, queue_size=config.queue_size,
                                            slop_ns=round(config.slop_s * 1e9), callback=self._on_pair,
                                            inter_message_lower_bounds_ns=[bound, bound])
        self.pipeline = FramePipeline(segmenter, make_aligner(config.alignment, segmenter.preprocess_config))
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
        if role is None:
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
        from rxssnet_ros.image_conversion import ImageConversionError, image_to_array, rgb_from_image, x_from_image

        stamp = stamp_to_ns(msg.header.stamp)
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
                self.issues.add("unsupported_encoding", topic, repr(str(msg.encoding)), format_stamp(stamp))
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
        try:
            if not self.warmed:
                for _ in range(self.config.warmup):
                    self.pipeline.run(rgb.array, x.array, rgb_info, x_info)
                self.warmed = True
            output = self.pipeline.run(rgb.array, x.array, rgb_info, x_info,
                                       FrameWants(overlay=self.writer is not None,
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
        self.scorer.add_prediction(rgb.stamp_ns, output.labels)
        if self.writer is not None:
            self._write_prediction(rgb, output)

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
        self.scorer.finish(self.rgb_stamps)


def _typestore() -> Any:
    from rxssnet_ros.bag_tools.convert import get_typestore

    return get_typestore()


def _check_topics(source: BagSource, config: BagEvalConfig) -> None:
    listing = ", ".join(f"{t.topic} ({t.msgtype})" for t in source.topics.values()) or "none"
    for option, topic in (("--rgb-topic", config.rgb_topic), ("--x-topic", config.x_topic),
                          ("--gt-topic", config.gt_topic)):
        info = source.topics.get(topic)
        if info is None:
            raise BagError(f"{option} {topic} is not in bag {source.path}; its topics are: {listing}. Pass the "
                           f"right {option}")
        if info.msgtype != IMAGE_TYPE:
            raise BagError(f"{option} {topic} in bag {source.path} has type {info.msgtype}; bag eval needs raw "
                           f"{IMAGE_TYPE} (republish compressed images as raw ones first)")


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
                 on_message: Callable[[int], None] | None = None) -> BagEvalResult:
    """Replays `bag` through the pairing rule and `segmenter` and scores it against the ground-truth topic.

    Returns a `BagEvalResult`; problems in the bag are counted in `result.issues`, never raised. Raises BagError
    for a missing topic, a wrong message type, an unreadable (not salvageable) file, or a class-count mismatch
    between the bag's dataset and the checkpoint.
    """
    from tqdm import tqdm

    from rxssnet_ros.bag_tools.convert import BagWriter, prepare_output

    config = config or BagEvalConfig()
    issues = IssueLog()
    bag_path = Path(bag)
    with BagSource(bag_path, issues) as source:
        _check_topics(source, config)
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
            replay = _Replay(source, segmenter, config, writer)
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
    return BagEvalResult(bag_path, replay.scorer.compute(), class_names, replay.latencies, replay.stage_ms,
                         replay.frames, issues, counts, replay.dataset_info, out)
