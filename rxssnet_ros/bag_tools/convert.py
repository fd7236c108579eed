"""A labelled dataset split -> a rosbag2 that a perception node (or `rxssnet bag eval`) can replay.

Every sample becomes one *frame* of three sensor_msgs/Image messages that share one header stamp:

- RGB (`rgb8`) on `topics.rgb`, frame id `rgb_frame`;
- X on `topics.x`, in the encoding its data has (`mono8`, `mono16`, `32FC1`, `rgb8`; see `x_encoding`), frame id
  `x_frame`; with `jitter_ms` > 0 its stamp moves by a uniform random offset in [-jitter, +jitter] (seeded), as an
  unsynchronised second camera would;
- ground truth (`mono8`, or `mono16` when K > 255; 255 = ignore) on `topics.gt`, in the RGB frame.

With `compress` ("jpeg" or "png") the cameras are written as image_transport records them: sensor_msgs/
CompressedImage on `<topic>/compressed` (RGB; X in JPEG when 8-bit and compress is jpeg, else lossless PNG) and a
depth X (`modality` depth, one 16-bit or float channel) as compressedDepth on `<topic>/compressedDepth`; the
ground truth stays a raw Image.

Frame i is stamped `start_ns + i / rate`; the bag's log time of each message equals its header stamp. With
`camera_info`, a plausible pinhole CameraInfo (60 degree horizontal field of view, principal point at the image
centre, no distortion) goes with each image on `<image namespace>/camera_info`.

Dataset metadata: the bag carries it itself, as one std_msgs/String message on `/rxssnet/dataset_info`
(`DATASET_INFO_TOPIC`, offered transient-local so late subscribers of a replay get it), logged just before the
first frame. Its text is JSON (`DATASET_INFO_FORMAT`): dataset name, split, class names, palette, ignore index,
modality, the topics, and for every frame its stem and stamps. It is the first message in the file (a truncated bag
keeps it). A message inside the bag survives copying the bag, `ros2 bag convert` and Foxglove, which a sidecar
file would not. `read_dataset_info(bag)` reads it back.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from rxssnet_ros.image_conversion import TRANSPORTS, array_to_compressed_fields, array_to_image_fields
from rxssnet_ros.synchronizer import time_fields

DATASET_INFO_TOPIC = "/rxssnet/dataset_info"
DATASET_INFO_FORMAT = "rxssnet/dataset_info/1"
# 2023-11-14T22:13:20Z: a fixed, obviously synthetic start time, so that converted bags are reproducible.
DEFAULT_START_NS = 1_700_000_000 * 10**9
STORAGES = ("mcap", "sqlite3")
DEFAULT_HFOV_DEG = 60.0
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
TF_TYPE = "tf2_msgs/msg/TFMessage"
TF_STATIC_TOPIC = "/tf_static"
COMPRESS_CHOICES = ("jpeg", "png")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
STRING_TYPE = "std_msgs/msg/String"


class BagError(ValueError):
    """A bag cannot be written or read as asked; the message names the bag, topic or option and the fix."""


# ---------------------------------------------------------------------------------------------------------------
# Topics, encodings and camera models


def base_image_topic(image_topic: str) -> str:
    """`/camera/rgb/image/compressed` -> `/camera/rgb/image`: the image_transport base of a transport topic."""

    base, _, last = image_topic.rpartition("/")
    return base if base and last in TRANSPORTS[1:] else image_topic


def camera_info_topic(image_topic: str) -> str:
    """`/camera/rgb/image` (or its `/compressed` transport) -> `/camera/rgb/camera_info` (image_transport's
    convention: same namespace as the base topic)."""
    parent = base_image_topic(image_topic).rsplit("/", 1)[0]
    return f"{parent}/camera_info"


def check_topic_name(name: str, option: str) -> str:
    """An absolute ROS topic name, or BagError naming the option."""
    text = str(name)
    valid = text.startswith("/") and len(text) > 1 and not text.endswith("/") and all(
        part and (part[0].isalpha() or part[0] == "_") and all(c.isalnum() or c == "_" for c in part)
        for part in text[1:].split("/"))
    if not valid:
        raise BagError(f"{option}={text!r} is not a valid absolute ROS topic name; use e.g. /camera/rgb/image "
                       "(letters, digits and '_', separated by '/', each part starting with a letter)")
    return text


@dataclass
class BagTopics:
    """Topic names of a converted bag; camera_info topics follow the image topics' namespaces."""

    rgb: str = "/camera/rgb/image"
    x: str = "/camera/x/image"
    gt: str = "/camera/labels_gt"
    dataset_info: str = DATASET_INFO_TOPIC

    def __post_init__(self) -> None:
        for option, value in (("--rgb-topic", self.rgb), ("--x-topic", self.x), ("--gt-topic", self.gt)):
            check_topic_name(value, option)
        if len({self.rgb, self.x, self.gt, self.dataset_info}) != 4:
            raise BagError(f"--rgb-topic {self.rgb}, --x-topic {self.x} and --gt-topic {self.gt} must be different "
                           f"topics (and not {self.dataset_info})")

    def check_camera_info(self) -> None:
        """CameraInfo goes next to each image topic: the two cameras need their own namespaces."""
        if self.rgb_info == self.x_info:
            raise BagError(f"--rgb-topic {self.rgb} and --x-topic {self.x} share a namespace, so their CameraInfo "
                           "topics would collide; put each camera in its own namespace (/camera/rgb/..., "
                           "/camera/x/...) or drop --camera-info")

    @property
    def rgb_info(self) -> str:
        return camera_info_topic(self.rgb)

    @property
    def x_info(self) -> str:
        return camera_info_topic(self.x)


_X_ENCODINGS = {("uint8", 1): "mono8", ("uint16", 1): "mono16", ("float32", 1): "32FC1", ("uint8", 3): "rgb8",
                ("uint16", 3): "rgb16", ("float32", 3): "32FC3", ("uint8", 4): "rgba8", ("uint16", 4): "rgba16"}


def x_encoding(x: np.ndarray) -> tuple[str, np.ndarray]:
    """The sensor_msgs encoding of a raw X array, and the array to store (float64 is stored as float32).

    (H, W) uint8 -> mono8, uint16 -> mono16, float32 -> 32FC1; (H, W, 3) uint8 -> rgb8 (3-channel X such as HHA or
    trichromatic polarization is RGB-ordered), uint16 -> rgb16, float32 -> 32FC3; other depths use OpenCV names.
    """
    if x.dtype == np.float64:
        x = x.astype(np.float32)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    channels = 1 if x.ndim == 2 else int(x.shape[2])
    name = _X_ENCODINGS.get((x.dtype.name, channels))
    if name is None:
        depth = {"uint8": "8U", "int8": "8S", "uint16": "16U", "int16": "16S", "int32": "32S",
                 "float32": "32F"}.get(x.dtype.name)
        if depth is None or not 1 <= channels <= 4:
            raise BagError(f"X image of dtype {x.dtype} with {channels} channels has no sensor_msgs encoding; "
                           "datasets must give uint8, uint16 or float32 X with 1 to 4 channels")
        name = f"{depth}C{channels}"
    return name, x


def x_compression_for(x: np.ndarray, modality: str, compress: str) -> str:
    """How image_transport would carry this X with `--compress`: compressedDepth for one-channel 16-bit or float
    depth, jpeg for 8-bit X when compress is jpeg, png otherwise (lossless); BagError when no codec fits."""
    encoding, x = x_encoding(x)
    channels = 1 if x.ndim == 2 else int(x.shape[2])
    if modality == "depth" and channels == 1 and x.dtype in (np.uint16, np.float32):
        return "compressedDepth"
    if x.dtype == np.uint8 and channels in (1, 3):
        return compress
    if x.dtype == np.uint16 and channels in (1, 3):
        return "png"
    raise BagError(f"X images in {encoding} ({modality}) have no image_transport codec (jpeg/png carry 8/16-bit "
                   "mono or colour, compressedDepth one depth channel); convert without --compress")


def label_encoding(label: np.ndarray, num_classes: int) -> tuple[str, np.ndarray]:
    """Ground truth as mono8 (K <= 255, ids and the 255 ignore fit a byte) or mono16 (K > 255 or 16-bit ids)."""
    if label.ndim != 2:
        raise BagError(f"ground-truth label must be (H, W), got shape {label.shape}")
    if num_classes <= 255 and label.dtype == np.uint8:
        return "mono8", label
    if label.dtype.kind not in "ui" or (label.size and (label.min() < 0 or label.max() > 65535)):
        raise BagError(f"ground-truth label of dtype {label.dtype} does not fit mono16 (ids 0..65535)")
    return "mono16", label.astype(np.uint16)


def pinhole_camera_info(height: int, width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> dict[str, Any]:
    """A plausible pinhole model for an image size: square pixels, `hfov_deg` horizontal field of view,
    principal point at the centre ((W-1)/2, (H-1)/2), no distortion. Returns CameraInfo fields k, d, r, p."""
    focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return {
        "distortion_model": "plumb_bob",
        "d": np.zeros(5, dtype=np.float64),
        "k": np.array([focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0], dtype=np.float64),
        "r": np.eye(3, dtype=np.float64).reshape(-1),
        "p": np.array([focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=np.float64),
    }


# ---------------------------------------------------------------------------------------------------------------
# Writing messages with rosbags


def get_typestore() -> Any:
    """The rosbags type store of ROS 2 Kilted (the newest store when this rosbags has no Kilted one)."""
    from rosbags.typesys import Stores
    from rosbags.typesys import get_typestore as _get

    store = getattr(Stores, "ROS2_KILTED", None) or Stores.LATEST
    return _get(store)


BAG_FILE_SUFFIXES = (".mcap", ".db3")


def bag_files(path: Path) -> list[Path] | None:
    """The files of the rosbag2 at `path`, or None when `path` is not one we recognise: a .mcap/.db3 file, or a
    directory whose metadata.yaml lists its storage files and which holds nothing else (an empty directory
    counts, as does one holding only storage files and no metadata.yaml: a bag whose writing was cut off)."""
    if path.is_symlink():
        return None
    if path.is_file():
        return [path] if path.suffix in BAG_FILE_SUFFIXES else None
    if not path.is_dir():
        return None
    entries = sorted(path.iterdir())
    if any(not entry.is_file() or entry.is_symlink() for entry in entries):
        return None
    metadata = path / "metadata.yaml"
    if metadata.is_file():
        try:
            info = yaml.safe_load(metadata.read_text(encoding="utf-8")) or {}
            listed = {str(name) for name in info["rosbag2_bagfile_information"].get("relative_file_paths") or []}
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
            return None
        expected = {metadata.name} | listed
        return entries if {entry.name for entry in entries} <= expected else None
    return entries if all(entry.suffix in BAG_FILE_SUFFIXES for entry in entries) else None


def remove_bag(path: Path, option: str = "--out") -> None:
    """Deletes the rosbag2 at `path` file by file (`bag_files`); refuses anything it does not recognise."""
    files = bag_files(path)
    if files is None:
        raise BagError(f"{option} {str(path)!r} exists and is not a rosbag2 that this tool recognises (a .mcap/.db3 "
                       "file, or a folder holding only metadata.yaml and the storage files it lists); refusing to "
                       f"delete it even with --overwrite. Choose another {option}")
    for file in files:
        file.unlink()
    if path.is_dir():
        path.rmdir()


def prepare_output(path: str | Path, overwrite: bool, option: str = "--out") -> Path:
    """Checks that a bag can be written at `path`: refuses an existing path unless `overwrite` (then deletes it,
    but only when it is a rosbag2 directory or bag file, never anything else)."""
    out = Path(path)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise BagError(f"output bag {str(out)!r} already exists; choose another {option} or pass --overwrite "
                           "to replace it")
        remove_bag(out, option)
    if not out.parent.exists():
        raise BagError(f"cannot write bag {str(out)!r}: folder {str(out.parent)!r} does not exist; create it first")
    return out


class BagWriter:
    """A rosbags rosbag2 writer with typed helpers for Image, CameraInfo and String messages.

    Connections are created on first use. Use as a context manager; on an error the partial bag is deleted.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", typestore: Any = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise BagError(f"--storage={storage!r} is unknown; choose one of {', '.join(STORAGES)}")
        self.path = Path(path)
        self.typestore = typestore or get_typestore()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.path, version=9, storage_plugin=plugin)
        self.connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        from rosbags.rosbag2 import WriterError

        try:
            self.writer.open()
        except WriterError as error:
            raise BagError(f"cannot create bag {str(self.path)!r}: {error}") from error
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.writer.close()
            return
        self.writer.abort()
        with contextlib.suppress(BagError, OSError):  # a half-written bag is worse than none; other files stay
            remove_bag(self.path)

    def connection(self, topic: str, msgtype: str, *, msgdef: str | None = None, digest: str | None = None,
                   latched: bool = False) -> Any:
        """The connection of `topic` (created on first use, with `msgdef`/`digest` when copying a bag)."""
        if topic not in self.connections:
            qos = [_transient_local_qos()] if latched else []
            if msgdef and digest:
                conn = self.writer.add_connection(topic, msgtype, msgdef=msgdef, rihs01=digest,
                                                  offered_qos_profiles=qos)
            else:
                conn = self.writer.add_connection(topic, msgtype, typestore=self.typestore, offered_qos_profiles=qos)
            self.connections[topic] = conn
            self.counts[topic] = 0
        return self.connections[topic]

    def write_raw(self, topic: str, msgtype: str, log_time_ns: int, data: bytes | memoryview, **kwargs: Any) -> None:
        """Writes already serialised CDR bytes (used to copy a bag's messages unchanged)."""
        self.writer.write(self.connection(topic, msgtype, **kwargs), int(log_time_ns), data)
        self.counts[topic] += 1

    def write_message(self, topic: str, msg: Any, log_time_ns: int, latched: bool = False) -> None:
        msgtype = msg.__msgtype__
        self.write_raw(topic, msgtype, log_time_ns, self.typestore.serialize_cdr(msg, msgtype), latched=latched)

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        types = self.typestore.types
        stamp = types["builtin_interfaces/msg/Time"](**time_fields(stamp_ns))
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def image(self, fields: dict[str, Any], stamp_ns: int, frame_id: str) -> Any:
        """A rosbags sensor_msgs/Image from `image_conversion.array_to_image_fields` output."""
        data = fields["data"]
        if not isinstance(data, np.ndarray):
            data = np.frombuffer(bytes(data), dtype=np.uint8)
        return self.typestore.types[IMAGE_TYPE](
            header=self.header(stamp_ns, frame_id), height=int(fields["height"]), width=int(fields["width"]),
            encoding=str(fields["encoding"]), is_bigendian=int(fields["is_bigendian"]), step=int(fields["step"]),
            data=np.ascontiguousarray(data, dtype=np.uint8).reshape(-1))

    def write_image(self, topic: str, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str,
                    log_time_ns: int | None = None) -> None:

        msg = self.image(array_to_image_fields(array, encoding), stamp_ns, frame_id)
        self.write_message(topic, msg, stamp_ns if log_time_ns is None else log_time_ns)

    def write_compressed(self, topic: str, array: np.ndarray, encoding: str, compression: str, stamp_ns: int,
                         frame_id: str) -> None:
        """A sensor_msgs/CompressedImage (jpeg | png | compressedDepth, as image_transport encodes it)."""

        fields = array_to_compressed_fields(array, encoding, compression)
        msg = self.typestore.types[COMPRESSED_IMAGE_TYPE](header=self.header(stamp_ns, frame_id),
                                                          format=fields["format"], data=fields["data"])
        self.write_message(topic, msg, stamp_ns)

    def write_camera_info(self, topic: str, height: int, width: int, stamp_ns: int, frame_id: str) -> None:
        types = self.typestore.types
        model = pinhole_camera_info(height, width)
        roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        msg = types[CAMERA_INFO_TYPE](header=self.header(stamp_ns, frame_id), height=int(height), width=int(width),
                                      binning_x=0, binning_y=0, roi=roi, **model)
        self.write_message(topic, msg, stamp_ns)

    def write_string(self, topic: str, text: str, log_time_ns: int, latched: bool = False) -> None:
        msg = self.typestore.types[STRING_TYPE](data=text)
        self.write_message(topic, msg, log_time_ns, latched=latched)


def _transient_local_qos() -> Any:
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)


# ---------------------------------------------------------------------------------------------------------------
# Dataset -> bag


@dataclass
class ConvertSummary:
    """What `convert_dataset_to_bag` wrote: bag path, frame count, topics with message counts, stamps."""

    bag: Path
    frames: int
    topic_counts: dict[str, int]
    first_stamp_ns: int
    last_stamp_ns: int
    unlabelled_frames: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"wrote {self.frames} frames to {self.bag} "
                 f"({(self.last_stamp_ns - self.first_stamp_ns) / 1e9:.3f} s of stamps)"]
        lines += [f"  {topic}: {count} messages" for topic, count in self.topic_counts.items()]
        if self.unlabelled_frames:
            lines.append(f"  {self.unlabelled_frames} frames had no label (no GT message for them)")
        return "\n".join(lines)


def frame_stamps(count: int, rate: float, jitter_ms: float, seed: int, start_ns: int = DEFAULT_START_NS
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(frame stamps, X stamps) in int64 ns: frames at `rate` Hz; X moved by uniform [-jitter, +jitter] ms."""
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise BagError(f"--rate={rate!r} must be a positive number of frames per second")
    period_ns = round(1e9 / rate)
    if not (math.isfinite(jitter_ms) and 0 <= jitter_ms * 1e6 < period_ns / 2):
        raise BagError(f"--jitter-ms={jitter_ms!r} must be >= 0 and below half the frame period "
                       f"({period_ns / 2e6:g} ms at --rate {rate:g}), or X frames would swap order")
    stamps = start_ns + np.arange(count, dtype=np.int64) * period_ns
    offsets = np.zeros(count, dtype=np.int64)
    if jitter_ms > 0:
        rng = np.random.default_rng(seed)
        offsets = np.rint(rng.uniform(-jitter_ms, jitter_ms, size=count) * 1e6).astype(np.int64)
    return stamps, stamps + offsets


def convert_dataset_to_bag(dataset: str, root: str | Path, split: str, out: str | Path, *, storage: str = "mcap",
                           rate: float = 10.0, jitter_ms: float = 0.0, camera_info: bool = False, seed: int = 0,
                           topics: BagTopics | None = None, rgb_frame: str = "camera_rgb_optical_frame",
                           x_frame: str = "camera_x_optical_frame", start_ns: int = DEFAULT_START_NS,
                           max_frames: int | None = None, overwrite: bool = False, progress: bool = True,
                           dataset_options: dict[str, Any] | None = None, compress: str | None = None,
                           on_frame: Callable[[int], None] | None = None) -> ConvertSummary:
    """Writes the `split` of dataset `dataset` (registry name, files at `root`) as a rosbag2 at `out`.

    See the module docstring for topics, encodings, stamps and the dataset-info message. Refuses to replace an
    existing `out` unless `overwrite`. Returns a `ConvertSummary`.
    """

    from rxssnet_core.data import build_dataset

    topics = topics or BagTopics()
    if compress is not None and compress not in COMPRESS_CHOICES:
        raise BagError(f"--compress={compress!r} is unknown; choose one of {', '.join(COMPRESS_CHOICES)}")
    if storage not in STORAGES:
        raise BagError(f"--storage={storage!r} is unknown; choose one of {', '.join(STORAGES)}")
    if camera_info:
        topics.check_camera_info()
    if max_frames is not None and max_frames < 1:
        raise BagError(f"--max-frames={max_frames} must be >= 1")
    ds = build_dataset(dataset, root, split, options=dataset_options)
    count = len(ds) if max_frames is None else min(len(ds), max_frames)
    if count == 0:
        raise BagError(f"dataset {dataset!r} split {split!r} at {root} has no samples; nothing to convert")
    stamps, x_stamps = frame_stamps(count, rate, jitter_ms, seed, start_ns)
    out = prepare_output(out, overwrite)  # only now: a bad option must not cost the user an existing bag
    info = ds.info
    num_classes = info.num_classes
    rgb_topic = topics.rgb if compress is None else f"{topics.rgb}/compressed"
    x_compression = None if compress is None else x_compression_for(ds.read_raw(0).x, info.modality, compress)
    x_topic = topics.x if x_compression is None else \
        f"{topics.x}/{'compressedDepth' if x_compression == 'compressedDepth' else 'compressed'}"
    description: dict[str, Any] = {
        "format": DATASET_INFO_FORMAT,
        "dataset": info.name, "split": split, "root": str(Path(root).resolve()),
        "num_classes": num_classes, "class_names": list(info.class_names),
        "palette": [list(map(int, c)) for c in info.palette], "ignore_index": int(info.ignore_index),
        "modality": info.modality, "preprocess": ds.preprocess.to_dict(),
        "topics": {"rgb": rgb_topic, "x": x_topic, "gt": topics.gt,
                   **({"rgb_camera_info": topics.rgb_info, "x_camera_info": topics.x_info} if camera_info else {})},
        "frame_ids": {"rgb": rgb_frame, "x": x_frame},
        "rate_hz": float(rate), "jitter_ms": float(jitter_ms), "seed": int(seed),
    }
    stems = ds.stems[:count]
    description["frames"] = [{"stem": stem, "stamp_ns": int(stamps[i]), "x_stamp_ns": int(x_stamps[i])}
                             for i, stem in enumerate(stems)]
    unlabelled = 0
    with BagWriter(out, storage) as bag:
        # First in the file (a truncated bag keeps it) and 1 ns before the first frame (a replay delivers it first).
        bag.write_string(topics.dataset_info, json.dumps(description), int(stamps[0]) - 1, latched=True)
        for index in tqdm(range(count), desc=f"{info.name}/{split} -> {out.name}", unit="frame",
                          disable=not progress, dynamic_ncols=True):
            raw = ds.read_raw(index)
            stamp, x_stamp = int(stamps[index]), int(x_stamps[index])
            height, width = raw.rgb.shape[:2]
            if camera_info:
                bag.write_camera_info(topics.rgb_info, height, width, stamp, rgb_frame)
            encoding, x_array = x_encoding(raw.x)
            if compress is None:
                bag.write_image(topics.rgb, raw.rgb, "rgb8", stamp, rgb_frame)
            else:
                bag.write_compressed(rgb_topic, raw.rgb, "rgb8", compress, stamp, rgb_frame)
            if camera_info:
                bag.write_camera_info(topics.x_info, x_array.shape[0], x_array.shape[1], x_stamp, x_frame)
            if x_compression is None:
                bag.write_image(topics.x, x_array, encoding, x_stamp, x_frame)
            else:
                bag.write_compressed(x_topic, x_array, encoding, x_compression, x_stamp, x_frame)
            if raw.label is None:
                unlabelled += 1
            else:
                gt_encoding, label = label_encoding(raw.label, num_classes)
                bag.write_image(topics.gt, label, gt_encoding, stamp, rgb_frame)
            if on_frame is not None:
                on_frame(index)
        counts = dict(bag.counts)
    return ConvertSummary(out, count, counts, int(stamps[0]), int(stamps[-1]), unlabelled, description)


# ---------------------------------------------------------------------------------------------------------------
# Reading the dataset description back


def parse_dataset_info(text: str, source: str) -> dict[str, Any]:
    """The JSON of a `/rxssnet/dataset_info` message, checked; BagError naming `source` otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BagError(f"{source}: dataset info is not valid JSON ({error})") from error
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("rxssnet/dataset_info/"):
        raise BagError(f"{source}: not an rxssnet dataset description (no 'format': '{DATASET_INFO_FORMAT}')")
    names = data.get("class_names")
    if not isinstance(names, list) or not names or len(names) != data.get("num_classes", len(names)):
        raise BagError(f"{source}: dataset info has no usable class_names list")
    return data


def read_dataset_info(bag: str | Path, topic: str = DATASET_INFO_TOPIC) -> dict[str, Any] | None:
    """The dataset description stored in a converted bag, or None when the bag has no `topic`."""
    from rosbags.rosbag2 import Reader, ReaderError

    path = Path(bag)
    if not path.exists():
        raise FileNotFoundError(f"bag {str(path)!r} does not exist")
    try:
        with Reader(path) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            if not connections:
                return None
            typestore = get_typestore()
            for conn, _, data in reader.messages(connections):
                msg = typestore.deserialize_cdr(data, conn.msgtype)
                return parse_dataset_info(msg.data, f"{path} topic {topic}")
    except ReaderError as error:
        raise BagError(f"cannot read bag {str(path)!r}: {error}") from error
    return None
