# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/Image read in place from its serialized bytes: the node's raw image inputs, without a copy.

rclpy turns a received Image into a Python message by copying the pixels twice (the serialized bytes into the C
message, that into an `array.array`): at 1920x1080 rgb8 that is 6 MB twice per frame, for every frame of a 30 Hz
camera, even the ones the latest-only worker then drops. A subscription with `raw=True` hands over the serialized
bytes instead; `image_from_cdr` reads the header and the layout fields from them and leaves the pixels where they
are (`data` is a read-only numpy view of those bytes), so decoding (`image_conversion`) reads them in place.

    sub = node.create_subscription(Image, "~/rgb/image", lambda raw: use(image_from_cdr(raw)), qos, raw=True)

Layout read: plain CDR (XCDR1) as rmw_fastrtps and rmw_cyclonedds write it (encapsulation 0x0000 big-endian,
0x0001 little-endian, then the fields in order, each aligned to its size from the start of the body). Any other
encapsulation, or bytes that do not add up to an Image, go to rclpy's own deserializer, which is always right.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header

# Encapsulation identifiers (the first two bytes) of plain CDR, and the byte order they mean.
PLAIN_CDR = {b"\x00\x00": ">", b"\x00\x01": "<"}
BODY_OFFSET = 4  # the encapsulation header: identifier and two option bytes
MAX_TRAILING_PADDING = 3  # writers may pad the serialized size to a multiple of 4


@dataclass
class SerializedImage:
    """The fields of a sensor_msgs/Image, with `data` a read-only uint8 view of the received bytes.

    Anything that reads an Image's fields reads this (the image conversion, the node's checks, the pairing rule);
    `header` is a real std_msgs/Header, so outputs stamped with it are ordinary messages.
    """

    header: Header
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray


class _Reader:
    """Reads CDR primitives from a body that starts at BODY_OFFSET, aligning each to its size."""

    def __init__(self, raw: bytes, order: str) -> None:
        self.raw, self.order, self.position = raw, order, 0

    def _align(self, size: int) -> None:
        self.position += -self.position % size

    def uint32(self, signed: bool = False) -> int:
        self._align(4)
        start = BODY_OFFSET + self.position
        if start + 4 > len(self.raw):
            raise ValueError("truncated")
        self.position += 4
        return int(struct.unpack_from(self.order + ("i" if signed else "I"), self.raw, start)[0])

    def uint8(self) -> int:
        start = BODY_OFFSET + self.position
        if start >= len(self.raw):
            raise ValueError("truncated")
        self.position += 1
        return self.raw[start]

    def string(self) -> str:
        length = self.uint32()  # bytes including the terminating NUL
        start = BODY_OFFSET + self.position
        if start + length > len(self.raw):
            raise ValueError("truncated")
        self.position += length
        return self.raw[start:start + max(length - 1, 0)].decode("utf-8")

    def octets(self) -> tuple[int, int]:
        """(offset in raw, length) of a sequence<uint8>."""
        length = self.uint32()
        start = BODY_OFFSET + self.position
        if start + length > len(self.raw):
            raise ValueError("truncated")
        self.position += length
        return start, length


def image_from_cdr(raw: bytes) -> Any:
    """A received Image's serialized bytes -> SerializedImage (pixels in place), or rclpy's deserialized Image for
    an encapsulation this reader does not know.
    """
    order = PLAIN_CDR.get(bytes(raw[:2]))
    if order is not None:
        try:
            return _read_image(raw, order)
        except (ValueError, UnicodeDecodeError, struct.error):
            pass  # not an Image this reader can follow: the real deserializer decides (and raises if it is bad)
    return deserialize_message(raw, Image)


def _read_image(raw: bytes, order: str) -> SerializedImage:
    reader = _Reader(raw, order)
    sec, nanosec = reader.uint32(signed=True), reader.uint32()
    frame_id = reader.string()
    height, width = reader.uint32(), reader.uint32()
    encoding = reader.string()
    is_bigendian = reader.uint8()
    step = reader.uint32()
    start, length = reader.octets()
    if len(raw) - (start + length) > MAX_TRAILING_PADDING:
        raise ValueError("bytes left after the image data")
    data = np.frombuffer(raw, dtype=np.uint8, count=length, offset=start)
    return SerializedImage(Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id), height, width, encoding,
                           is_bigendian, step, data)
