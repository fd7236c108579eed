# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Reading a rosbag2 (or a ROS 1 bag) in log-time order, and salvaging every complete message of a truncated MCAP.

`BagSource(path, issues).messages(topics)` yields (topic, msgtype, log_time_ns, cdr_bytes); `.topics` maps each
topic to its `TopicInfo`. A file that `rosbags` cannot open because it is cut short is scanned record by record
(MCAP framing: opcode, length, body; chunks decompressed with zstd or lz4) and the damage is named in `issues`.

A ROS 1 `.bag` file is read with `rosbags.highlevel.AnyReader`, and every message is turned into ROS 2 CDR as
`rosbags-convert` does (the bag's own ROS 1 definitions, with the ROS 2 std_msgs/Header: `seq` dropped), so
that the rest of the tools see one format. Topics whose type has no ROS 2 definition here are left out (named in
`issues` when asked for); a ROS 1 bag rosbags cannot read is refused with the `rosbags-convert` command.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lz4.frame
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys import Stores
from rosbags.typesys import get_typestore as rosbags_typestore

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_writer import get_typestore as ros2_typestore
from rxssnet_ros.bag_tools.issues import IssueLog

# zstd for MCAP chunks: rosbags depends on backports.zstd, which Python 3.14 has built in as compression.zstd.
try:
    from backports import zstd
except ImportError:
    from compression import zstd  # type: ignore[no-redef]  # the same module under its Python 3.14 name


@dataclass
class TopicInfo:
    """A topic of a bag: message type, definition and hash (to copy it), message count (None when unknown)."""

    topic: str
    msgtype: str
    msgdef: str = ""
    digest: str = ""
    count: int | None = None


ROS1_MAGIC = b"#ROSBAG V2.0"


def is_ros1_bag(path: Path) -> bool:
    """Whether `path` is a ROS 1 bag file (its magic line, whatever its name)."""
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(ROS1_MAGIC)) == ROS1_MAGIC


def ros1_convert_command(path: Path) -> str:
    """The exact command that turns a ROS 1 bag into a rosbag2 next to it."""
    return f"rosbags-convert --src {path} --dst {path.with_suffix('')}_ros2"


class BagSource:
    """Messages of a rosbag2 (a directory, or a bare .mcap / .db3 file) in log-time order, as
    (topic, msgtype, log_time_ns, raw CDR bytes). A truncated or corrupt file does not raise: reading stops, the
    damage is recorded in `issues`, and for MCAP the complete records before it are salvaged.
    """

    def __init__(self, path: str | Path, issues: IssueLog) -> None:
        self.path = Path(path)
        self.issues = issues
        self.topics: dict[str, TopicInfo] = {}
        self.salvage_files: list[Path] = []
        self._reader: Any = None
        if not self.path.exists():
            raise FileNotFoundError(f"bag {str(self.path)!r} does not exist")
        self._ros1: Any = None
        if is_ros1_bag(self.path):
            self._open_ros1()
            return
        if self.path.suffix == ".bag":
            raise BagError(f"{str(self.path)!r} is named like a ROS 1 bag but does not start with {ROS1_MAGIC!r}; "
                           "it is damaged or not a bag")
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
        if self._ros1 is not None:
            yield from self._ros1_messages(topics)
            return
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
        if self._ros1 is not None:
            self._ros1[0].close()
            self._ros1 = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ROS 1 bags -------------------------------------------------------------------------------------------

    def _open_ros1(self) -> None:
        reader = AnyReader([self.path])
        try:
            reader.open()
        except (AnyReaderError, OSError, ValueError, KeyError) as error:
            raise BagError(f"cannot read ROS 1 bag {str(self.path)!r}: {error}. Convert it to a rosbag2 with "
                           f"`{ros1_convert_command(self.path)}` and evaluate that") from error
        ros2 = ros2_typestore()
        # The bag's own (ROS 1) definitions with the ROS 2 header: ros1_to_cdr then drops `seq`, as
        # rosbags-convert does, and the CDR reads with the ROS 2 type store.
        convert = rosbags_typestore(Stores.EMPTY)
        convert.register({**reader.typestore.fielddefs, "std_msgs/msg/Header": ros2.fielddefs["std_msgs/msg/Header"]})
        self._ros1 = (reader, convert)
        self.skipped_types: dict[str, str] = {}
        for conn in reader.connections:
            if conn.msgtype not in ros2.fielddefs:
                self.skipped_types[conn.topic] = conn.msgtype
            if conn.topic in self.topics:
                continue
            self.topics[conn.topic] = TopicInfo(conn.topic, conn.msgtype, "", "", conn.msgcount)
        # counts of several connections of one topic add up
        for topic, info in self.topics.items():
            info.count = sum(c.msgcount for c in reader.connections if c.topic == topic)

    def _ros1_messages(self, topics: set[str] | None) -> Iterator[tuple[str, str, int, bytes]]:
        reader, convert = self._ros1
        skipped = sorted(t for t in self.skipped_types if topics is None or t in topics)
        if skipped:
            self.issues.add("ros1_type", None, "ROS 1 topics without a ROS 2 message type were left out: " + ", ".join(
                f"{t} ({self.skipped_types[t]})" for t in skipped))
        connections = [c for c in reader.connections if (topics is None or c.topic in topics)
                       and c.topic not in self.skipped_types]
        if not connections:
            return
        read = 0
        iterator = reader.messages(connections)
        while True:
            try:
                conn, log_time, data = next(iterator)
                cdr = convert.ros1_to_cdr(data, conn.msgtype)
            except StopIteration:
                return
            except Exception as error:  # rosbags raises assorted errors for damaged chunks and records
                self.issues.add("truncated", None, f"ROS 1 bag {self.path} is damaged: reading stopped after {read} "
                                f"messages ({type(error).__name__}: {error}); convert what is readable with "
                                f"`{ros1_convert_command(self.path)}`")
                return
            read += 1
            yield conn.topic, conn.msgtype, int(log_time), bytes(cdr)

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
            return zstd.decompress(records)
        if compression == "lz4":
            return lz4.frame.decompress(records)
        return None


def _read_string(buf: memoryview, offset: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, offset)
    end = offset + 4 + size
    if end > len(buf):
        raise struct.error("string beyond the end of the record")
    return bytes(buf[offset + 4: end]).decode("utf-8"), end
