# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Writing a rosbag2 with `rosbags`: typed sensor_msgs/std_msgs messages, raw CDR copies, safe replacement.

`BagWriter(path, storage)` (a context manager; mcap or sqlite3) creates each topic's connection on first use and
writes Image, CompressedImage (as image_transport encodes it), CameraInfo (`pinhole_camera_info`) and String
messages from numpy arrays and nanosecond stamps, or already serialised CDR bytes (`write_raw`, to copy a bag's
messages unchanged). On an error the partial bag is deleted. `prepare_output` refuses to overwrite anything but
a rosbag2 (`bag_files` recognises one), so that `--overwrite` can never delete a user's other files.
`get_typestore` is the ROS 2 type store every bag tool here (de)serialises with.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores
from rosbags.typesys import get_typestore as rosbags_typestore

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.compressed_image import array_to_compressed_fields
from rxssnet_ros.image_conversion import array_to_image_fields
from rxssnet_ros.ros_time import time_fields

STORAGES = ("mcap", "sqlite3")
BAG_FILE_SUFFIXES = (".mcap", ".db3")
DEFAULT_HFOV_DEG = 60.0
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
STRING_TYPE = "std_msgs/msg/String"


def pinhole_camera_info(height: int, width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> dict[str, Any]:
    """A plausible pinhole model for an image size: square pixels, `hfov_deg` horizontal field of view,
    principal point at the centre ((W-1)/2, (H-1)/2), no distortion. Returns CameraInfo fields k, d, r, p.
    """
    focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return {
        "distortion_model": "plumb_bob",
        "d": np.zeros(5, dtype=np.float64),
        "k": np.array([focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0], dtype=np.float64),
        "r": np.eye(3, dtype=np.float64).reshape(-1),
        "p": np.array([focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=np.float64),
    }


def get_typestore() -> Any:
    """The rosbags type store of ROS 2 Kilted (the newest store when this rosbags has no Kilted one)."""
    store = getattr(Stores, "ROS2_KILTED", None) or Stores.LATEST
    return rosbags_typestore(store)



def bag_files(path: Path) -> list[Path] | None:
    """The files of the rosbag2 at `path`, or None when `path` is not one we recognise: a .mcap/.db3 file, or a
    directory whose metadata.yaml lists its storage files and which holds nothing else (an empty directory
    counts, as does one holding only storage files and no metadata.yaml: a bag whose writing was cut off).
    """
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
    but only when it is a rosbag2 directory or bag file, never anything else).
    """
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
        if storage not in STORAGES:
            raise BagError(f"--storage={storage!r} is unknown; choose one of {', '.join(STORAGES)}")
        self.path = Path(path)
        self.typestore = typestore or get_typestore()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.path, version=9, storage_plugin=plugin)
        self.connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
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
        """A sensor_msgs/Image of `array` in `encoding`, logged at its stamp unless `log_time_ns` is given."""
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
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)
