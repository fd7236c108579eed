# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/Image <-> numpy: cv_bridge's rules (step, endianness, channel layout) and clear errors."""

from __future__ import annotations

import types

import numpy as np
import pytest

from rxssnet_core.frame_pipeline import nonfinite_fraction
from rxssnet_ros.image_conversion import (
    array_to_image,
    array_to_image_fields,
    bridge_decodes_like_ours,
    check_image_layout,
    image_to_array,
    rgb_from_image,
    x_from_image,
)
from rxssnet_ros.image_encodings import ImageConversionError, encoding_info

RNG = np.random.default_rng(0)


def fake(array: np.ndarray, encoding: str, step_padding: int = 0, bigendian: bool = False, **override):
    """An Image-like SimpleNamespace holding `array` with `step_padding` bytes at the end of every row."""
    height, width = array.shape[:2]
    dtype = array.dtype.newbyteorder(">" if bigendian else "<")
    row = np.ascontiguousarray(array.astype(dtype)).reshape(height, -1).view(np.uint8)
    padded = np.zeros((height, row.shape[1] + step_padding), np.uint8)
    padded[:, : row.shape[1]] = row
    fields = {"height": height, "width": width, "encoding": encoding, "is_bigendian": int(bigendian),
              "step": padded.shape[1], "data": padded.reshape(-1).tobytes()}
    fields.update(override)
    return types.SimpleNamespace(**fields)


ARRAYS = {
    "rgb8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "bgra8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "mono16": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "16UC1": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "32FC1": RNG.normal(0, 100, (5, 7)).astype(np.float32),
    "8UC3": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "64FC1": RNG.normal(0, 1, (5, 7)),
}


@pytest.mark.parametrize("encoding", sorted(ARRAYS))
@pytest.mark.parametrize("padding", [0, 13])
@pytest.mark.parametrize("bigendian", [False, True])
def test_decode_honours_step_and_endianness(encoding, padding, bigendian):
    array = ARRAYS[encoding]
    padding = padding - padding % array.dtype.itemsize  # step must stay a multiple of the element size
    decoded = image_to_array(fake(array, encoding, padding, bigendian))
    assert decoded.dtype == array.dtype and decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize("encoding", sorted(ARRAYS))
def test_encode_then_decode_round_trips(encoding):
    fields = array_to_image_fields(ARRAYS[encoding], encoding)
    assert fields["step"] == ARRAYS[encoding].shape[1] * encoding_info(encoding).pixel_bytes
    assert fields["data"].dtype == np.uint8 and fields["data"].size == fields["step"] * fields["height"]
    np.testing.assert_array_equal(image_to_array(types.SimpleNamespace(**fields)), ARRAYS[encoding])


def test_rclpy_messages_round_trip():
    from sensor_msgs.msg import Image

    msg = array_to_image(ARRAYS["32FC1"], "32FC1")
    assert isinstance(msg, Image) and msg.step == 7 * 4
    np.testing.assert_array_equal(image_to_array(msg), ARRAYS["32FC1"])


def test_rosbags_messages_decode_like_rosbags_image():
    """rosbags' own decoder agrees with ours on unpadded images (it ignores row padding, we do not)."""
    from rosbags.image import image_to_cvimage
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(getattr(Stores, "ROS2_KILTED", None) or Stores.LATEST)
    types_ = store.types
    header = types_["std_msgs/msg/Header"](stamp=types_["builtin_interfaces/msg/Time"](sec=1, nanosec=2),
                                           frame_id="cam")
    for encoding, bigendian in (("mono16", True), ("32FC1", False), ("rgb8", False)):
        fields = vars(fake(ARRAYS[encoding], encoding, 0, bigendian))
        msg = types_["sensor_msgs/msg/Image"](header=header, **{
            **fields, "data": np.frombuffer(fields["data"], np.uint8)})
        np.testing.assert_array_equal(image_to_array(msg), image_to_cvimage(msg))
        np.testing.assert_array_equal(image_to_array(msg), ARRAYS[encoding])
    padded = fake(ARRAYS["rgb8"], "rgb8", 5)
    msg = types_["sensor_msgs/msg/Image"](header=header, **{**vars(padded),
                                                           "data": np.frombuffer(padded.data, np.uint8)})
    np.testing.assert_array_equal(image_to_array(msg), ARRAYS["rgb8"])


def test_data_containers_bytes_list_memoryview_array():
    base = fake(ARRAYS["mono8"], "mono8")
    for data in (base.data, list(base.data), memoryview(base.data), bytearray(base.data),
                 np.frombuffer(base.data, np.uint8)):
        np.testing.assert_array_equal(image_to_array(types.SimpleNamespace(**{**vars(base), "data": data})),
                                      ARRAYS["mono8"])


def test_rgb_from_image_gives_rgb_order():
    rgb = ARRAYS["rgb8"]
    np.testing.assert_array_equal(rgb_from_image(fake(rgb, "rgb8")), rgb)
    np.testing.assert_array_equal(rgb_from_image(fake(rgb[:, :, ::-1], "bgr8", 3)), rgb)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(rgb_from_image(fake(rgba, "rgba8")), rgb)
    np.testing.assert_array_equal(rgb_from_image(fake(rgba[:, :, [2, 1, 0, 3]], "bgra8")), rgb)
    mono = ARRAYS["mono8"]
    np.testing.assert_array_equal(rgb_from_image(fake(mono, "mono8")), np.stack([mono] * 3, axis=2))


def test_x_from_image_keeps_dtype_and_reorders_bgr():
    assert x_from_image(fake(ARRAYS["mono16"], "mono16", bigendian=True)).dtype == np.uint16
    np.testing.assert_array_equal(x_from_image(fake(ARRAYS["8UC3"][:, :, ::-1], "bgr8")), ARRAYS["8UC3"])
    np.testing.assert_array_equal(x_from_image(fake(ARRAYS["8UC3"], "8UC3")), ARRAYS["8UC3"])


@pytest.mark.parametrize("msg,allowed,cause,text", [
    (fake(ARRAYS["mono8"], "yuv422"), None, "encoding", "encoding 'yuv422' is not supported"),
    (fake(ARRAYS["rgb8"], "8UC3"), ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"), "encoding",
     "'8UC3' is not accepted here; publish one of rgb8"),
    (fake(ARRAYS["bgra8"], "rgba8"), ("mono8", "rgb8"), "channels", "has 4 channel(s)"),
    (fake(ARRAYS["mono8"], "mono8", height=0), None, "zero_size", "height and width must be > 0"),
    (fake(ARRAYS["mono8"], "mono8", step=-7), None, "negative_step", "step=-7 is not a valid row length"),
    (fake(ARRAYS["mono8"], "mono8", step=2**32 - 1), None, "negative_step", "not a valid row length"),
    (fake(ARRAYS["rgb8"], "rgb8", step=20), None, "step", "step=20 bytes is shorter than a row (7 px * 3 B = 21)"),
    (fake(ARRAYS["mono16"], "mono16", 1), None, "step", "not a multiple of the 2-byte element size"),
    (fake(ARRAYS["mono16"], "mono16", data=b"\0" * 69), None, "truncated", "data has 69 bytes but step * height"),
    (fake(ARRAYS["mono8"], "mono8", data=b"\0" * 36), None, "data_size", "data has 36 bytes but step * height = 35"),
])
def test_malformed_messages_raise_clear_errors(msg, allowed, cause, text):
    with pytest.raises(ImageConversionError) as error:
        check_image_layout(msg, "X image on /cam/x", allowed)
    assert error.value.cause == cause
    assert text in str(error.value) and str(error.value).startswith("X image on /cam/x"), str(error.value)


def test_max_pixels():
    with pytest.raises(ImageConversionError, match="35 pixels, more than max_image_pixels=34") as error:
        image_to_array(fake(ARRAYS["mono8"], "mono8"), max_pixels=34)
    assert error.value.cause == "oversized"
    assert image_to_array(fake(ARRAYS["mono8"], "mono8"), max_pixels=35).shape == (5, 7)


def test_encode_errors_and_nonfinite_fraction():
    with pytest.raises(ImageConversionError, match="cannot encode a float32 array as mono16"):
        array_to_image_fields(np.zeros((2, 2), np.float32), "mono16")
    with pytest.raises(ImageConversionError, match="shape \\(2, 2\\) as rgb8"):
        array_to_image_fields(np.zeros((2, 2), np.uint8), "rgb8")
    values = np.ones((4, 5), np.float32)
    values[0, :2] = np.nan
    values[1, 0] = -np.inf
    assert nonfinite_fraction(values) == pytest.approx(3 / 20)
    assert nonfinite_fraction(np.zeros((3, 3), np.uint16)) == 0.0


class _ReshapingBridge:
    """Decodes like cv_bridge versions that reshape by step / pixel size: right when the step is a multiple of the
    pixel size, wrong otherwise (a plain object standing in for cv_bridge.CvBridge)."""

    def cv2_to_imgmsg(self, array, encoding):
        from sensor_msgs.msg import Image

        fields = array_to_image_fields(array, encoding)
        msg = Image(height=fields["height"], width=fields["width"], encoding=encoding, step=fields["step"],
                    is_bigendian=fields["is_bigendian"])
        msg.data = fields["data"].tobytes()
        return msg

    def imgmsg_to_cv2(self, msg, desired_encoding="passthrough"):
        info = encoding_info(msg.encoding)
        raw = np.frombuffer(bytes(msg.data), np.uint8)
        per_row = msg.step // info.pixel_bytes  # drops the remainder of a padded row: rows drift
        pixels = raw[: msg.height * per_row * info.pixel_bytes].view(info.dtype)
        shape = (msg.height, per_row) if info.channels == 1 else (msg.height, per_row, info.channels)
        return pixels.reshape(shape)[:, : msg.width]


class _CorrectBridge(_ReshapingBridge):
    def imgmsg_to_cv2(self, msg, desired_encoding="passthrough"):
        return image_to_array(types.SimpleNamespace(**{k: getattr(msg, k) for k in (
            "height", "width", "encoding", "step", "is_bigendian", "data")}))


def test_cv_bridge_used_only_when_it_decodes_padded_rows():
    """The self-check probes steps that are not multiples of the pixel size: a bridge that reshapes by step / pixel
    size passes an rgb8 step-12 probe (the old check) but fails these, so our converter is used instead."""
    from sensor_msgs.msg import Image

    fooled = Image(height=2, width=3, encoding="rgb8", is_bigendian=0, step=12)
    fooled.data = bytes(range(24))
    np.testing.assert_array_equal(_ReshapingBridge().imgmsg_to_cv2(fooled), image_to_array(fooled))
    assert not bridge_decodes_like_ours(_ReshapingBridge(), Image)
    assert bridge_decodes_like_ours(_CorrectBridge(), Image)
