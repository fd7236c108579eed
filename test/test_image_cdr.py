# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""image_cdr reads a serialized sensor_msgs/Image as rclpy's own deserializer does, field for field and pixel for
pixel, for every alignment the variable-length strings can leave (frame_id and encoding of each length mod 4), padded
rows, both byte orders of the pixels and empty images; what it cannot follow goes to the deserializer."""

from __future__ import annotations

import array

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from rxssnet_ros.image_cdr import SerializedImage, image_from_cdr
from rxssnet_ros.image_conversion import image_to_array, rgb_from_image, x_from_image


def _image(rng: np.random.Generator, frame_id: str, encoding: str, height: int, width: int, step: int,
           bigendian: int = 0) -> Image:
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=bigendian, step=step)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(rng.integers(-2**31, 2**31)), int(rng.integers(0, 10**9))
    msg.data = array.array("B", rng.integers(0, 256, step * height, dtype=np.uint8).tobytes())
    return msg


def _assert_same(read: SerializedImage, msg: Image) -> None:
    assert isinstance(read, SerializedImage)
    assert read.header == msg.header  # stamp (sec may be negative) and frame_id
    assert (read.height, read.width, read.encoding, read.is_bigendian, read.step) == \
        (msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step)
    np.testing.assert_array_equal(read.data, np.frombuffer(msg.data, np.uint8))
    assert not read.data.flags.writeable  # a view of the received bytes, never written


@pytest.mark.parametrize("frame_id", ["", "c", "ca", "cam", "came", "camera_optical_frame", "kamera_ü"])
@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "16UC1", "32FC1", "bgra8", "mono16"])
def test_fields_and_pixels_equal_the_deserializer(frame_id: str, encoding: str) -> None:
    rng = np.random.default_rng(len(frame_id) * 7 + len(encoding))
    pixel_bytes = {"rgb8": 3, "mono8": 1, "16UC1": 2, "32FC1": 4, "bgra8": 4, "mono16": 2}[encoding]
    for height, width, pad in ((3, 5, 0), (4, 7, 3), (1, 1, 1), (0, 0, 0)):
        msg = _image(rng, frame_id, encoding, height, width, width * pixel_bytes + pad)
        _assert_same(image_from_cdr(serialize_message(msg)), msg)


def test_decoded_pixels_equal_those_of_the_deserialized_message() -> None:
    rng = np.random.default_rng(4)
    for encoding, width, step, decode in (("bgr8", 5, 17, rgb_from_image), ("mono16", 6, 14, x_from_image),
                                          ("32FC1", 3, 12, x_from_image)):
        for bigendian in (0, 1):
            msg = _image(rng, "cam", encoding, 4, width, step, bigendian)
            if encoding == "32FC1":  # finite floats: NaN != NaN would hide nothing here but fail the comparison
                values = rng.random((4, 3), dtype=np.float32).astype(">f4" if bigendian else "<f4")
                msg.data = array.array("B", values.tobytes())
            read = image_from_cdr(serialize_message(msg))
            np.testing.assert_array_equal(decode(read), decode(msg))
            assert image_to_array(read).dtype.isnative


def test_what_the_reader_cannot_follow_goes_to_the_deserializer() -> None:
    msg = _image(np.random.default_rng(5), "cam", "rgb8", 2, 2, 6)
    raw = serialize_message(msg)
    # an encapsulation other than plain CDR (here: XCDR2 little-endian's identifier on the same bytes) is not read
    # by image_from_cdr; the deserializer gets the bytes and decides
    read = image_from_cdr(b"\x00\x07" + raw[2:])
    assert isinstance(read, Image) and read.header.frame_id == "cam"
    # data longer than the bytes: not an Image this reader follows; the deserializer refuses it too
    corrupt = bytearray(raw)
    corrupt[-16:-12] = (2**30).to_bytes(4, "little")
    with pytest.raises(Exception):  # noqa: B017 - rclpy raises its own error types for bad serialized data
        image_from_cdr(bytes(corrupt))
