# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
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
file would not. `bag_layout.read_dataset_info(bag)` reads it back; `bag_layout` also holds the topic-name
rules. The messages are written by `bag_writer.BagWriter`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_layout import DATASET_INFO_FORMAT, BagTopics
from rxssnet_ros.bag_tools.bag_writer import STORAGES, BagWriter, prepare_output

# 2023-11-14T22:13:20Z: a fixed, obviously synthetic start time, so that converted bags are reproducible.
DEFAULT_START_NS = 1_700_000_000 * 10**9
COMPRESS_CHOICES = ("jpeg", "png")


# ---------------------------------------------------------------------------------------------------------------
# Encodings


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
    depth, jpeg for 8-bit X when compress is jpeg, png otherwise (lossless); BagError when no codec fits.
    """
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
    # torch: the dataset reader (rxssnet_core.data.dataset) is a torch Dataset; `rxssnet bag eval` imports this
    # module and stays torch-free
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
