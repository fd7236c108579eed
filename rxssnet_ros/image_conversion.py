# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/Image <-> numpy with cv_bridge's decoding rules, and the decoders the node's inputs call.

Functions accept any object with `height`, `width`, `encoding`, `step`, `is_bigendian` and `data` (rclpy
messages, rosbags messages, `types.SimpleNamespace`), so the node and the offline bag tools share one decoder.
Where the ROS 2 `cv_bridge` is installed (and passes a self-check at first use) it does the decoding and encoding;
otherwise our converter applies the same rules: rows are `step` bytes long (padding dropped), multi-byte pixels
follow `is_bigendian`, and arrays come back (H, W) for one channel or (H, W, C) otherwise.

Before decoding, every message is checked (`check_image_layout`) so that a bad publisher gets an error naming the
field and the fix instead of a numpy exception or a silently garbled picture.

A CompressedImage-like message (`format` and `data`, no `encoding`) given to `check_image_layout`,
`image_to_array`, `rgb_from_image` or `x_from_image` is handed to `compressed_image` (image_transport's
compressed and compressedDepth transports, decoded with OpenCV). What an encoding string means, and the error
type, are `image_encodings`'.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import numpy as np

from rxssnet_ros.compressed_image import check_compressed_layout, decode_compressed, is_compressed
from rxssnet_ros.image_encodings import (
    EncodingInfo,
    ImageConversionError,
    check_array,
    check_encoding,
    check_size,
    data_as_bytes,
    data_length,
    encoding_info,
)

RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
# 32FC3 carries trichromatic AoLP/DoLP (ZJU-RGB-P with `trichromatic: true`).
X_ENCODINGS = ("mono8", "mono16", "8UC1", "16UC1", "32FC1", "8UC3", "rgb8", "bgr8", "32FC3")
# Sizes that fit an unsigned 32-bit step field; larger values arriving through other paths are nonsense.
_MAX_STEP = 2**31 - 1


def check_image_layout(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                       max_pixels: int | None = None) -> EncodingInfo:
    """Validate an Image-like message's fields; return its EncodingInfo or raise ImageConversionError.

    A CompressedImage-like message is checked by `check_compressed_layout` (format, header, size; no decoding).

    role names the input in messages (e.g. "RGB image on /cam/rgb"); allowed restricts the encodings; max_pixels
    rejects images larger than height * width pixels (the node's `max_image_pixels` parameter).
    """
    if is_compressed(msg):
        return check_compressed_layout(msg, role, allowed, max_pixels)
    encoding = str(msg.encoding)
    info = check_encoding(encoding, role, allowed)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    check_size(height, width, role, max_pixels)
    row_bytes = width * info.pixel_bytes
    if step < 0 or step > _MAX_STEP:
        raise ImageConversionError(
            "negative_step", f"{role}: step={step} is not a valid row length (negative, or a negative number "
            f"written into the unsigned field); it must be at least width * {info.pixel_bytes} = {row_bytes}")
    if step < row_bytes:
        raise ImageConversionError(
            "step", f"{role}: step={step} bytes is shorter than a row ({width} px * {info.pixel_bytes} B = "
            f"{row_bytes}); set step to at least {row_bytes}")
    if step % info.dtype.itemsize:
        raise ImageConversionError(
            "step", f"{role}: step={step} is not a multiple of the {info.dtype.itemsize}-byte element size of "
            f"{encoding}")
    expected = step * height
    length = data_length(msg.data)
    if length < expected:
        raise ImageConversionError(
            "truncated", f"{role}: data has {length} bytes but step * height = {step} * {height} = {expected}; "
            "the message is truncated")
    if length > expected:
        raise ImageConversionError(
            "data_size", f"{role}: data has {length} bytes but step * height = {expected}; check height and step")
    return info


def _decode_ours(msg: Any, info: EncodingInfo) -> np.ndarray:
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    raw = data_as_bytes(msg.data)[: step * height]
    dtype = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = raw.reshape(height, step)[:, : width * info.pixel_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype)
    if not dtype.isnative:
        pixels = pixels.astype(info.dtype)
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    return pixels.reshape(shape)


class _Bridge:
    """cv_bridge, used only when it is the ROS 2 one and decodes padded test images exactly as we do."""

    def __init__(self) -> None:
        self.bridge: Any = None
        self.checked = False

    def get(self) -> Any:
        if not self.checked:
            self.checked = True
            self.bridge = self._probe()
        return self.bridge

    @staticmethod
    def _probe() -> Any:
        try:
            # cv_bridge: exists on a ROS install, not in pip-only venvs; probed once, at the first conversion
            from cv_bridge import CvBridge

            # sensor_msgs: ROS only; the offline bag tools (rosbags messages) use this module without ROS
            from sensor_msgs.msg import Image
        except Exception:  # any import failure means: use our converter
            return None
        try:
            bridge = CvBridge()
        except Exception:  # a broken cv_bridge install: our converter (same rules) is used; cv_bridge_in_use() says so
            return None
        return bridge if bridge_decodes_like_ours(bridge, Image) else None


def bridge_decodes_like_ours(bridge: Any, image_type: type) -> bool:
    """Whether `bridge` (a cv_bridge.CvBridge or any object with its two methods) encodes an unpadded mono16 image
    and decodes padded rows as our converter does. The padded probes have steps that are NOT multiples of the
    pixel size (rgb8 width 3, step 10; mono16 width 3, step 8 with an odd pad), which cv_bridge versions that
    reshape by step / pixel size get wrong; a bridge that raises or differs is not used.
    """
    try:
        probe = np.arange(2 * 3, dtype=np.uint16).reshape(2, 3) * 257
        msg = bridge.cv2_to_imgmsg(probe, encoding="mono16")
        if not isinstance(msg, image_type) or msg.step != 6:
            return False
        for encoding, width, step in (("rgb8", 3, 12), ("rgb8", 3, 10), ("mono16", 3, 8), ("bgra8", 2, 9)):
            padded = image_type(height=2, width=width, encoding=encoding, is_bigendian=0, step=step)
            padded.data = array.array("B", bytes((7 * i + 3) % 256 for i in range(2 * step)))
            ours = _decode_ours(padded, encoding_info(encoding))
            theirs = np.asarray(bridge.imgmsg_to_cv2(padded, desired_encoding="passthrough"))
            if theirs.shape != ours.shape or theirs.dtype != ours.dtype or not np.array_equal(theirs, ours):
                return False
        return True
    except Exception:  # e.g. the ROS 1 cv-bridge from PyPI (ndarray.tostring is gone in numpy 2)
        return False


_BRIDGE = _Bridge()


def cv_bridge_in_use() -> bool:
    """Whether the ROS 2 cv_bridge is installed and used for conversions."""
    return _BRIDGE.get() is not None


def image_to_array(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                   max_pixels: int | None = None) -> np.ndarray:
    """Image-like message -> numpy array in its own encoding ("passthrough"): (H, W) or (H, W, C), native order.

    A CompressedImage-like message is decoded (`decode_compressed`): its array is in the decoded encoding.
    """
    if is_compressed(msg):
        return decode_compressed(msg, role, allowed, max_pixels)[0]
    info = check_image_layout(msg, role, allowed, max_pixels)
    bridge = _BRIDGE.get()
    # cv_bridge mishandles big-endian data with numpy 2 (ndarray.newbyteorder is gone): ours does it.
    if bridge is not None and not msg.is_bigendian and type(msg).__module__.startswith("sensor_msgs"):
        return np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
    return _decode_ours(msg, info)


def _pixels_and_encoding(msg: Any, role: str, allowed: tuple[str, ...], max_pixels: int | None
                         ) -> tuple[np.ndarray, str]:
    if is_compressed(msg):
        return decode_compressed(msg, role, allowed, max_pixels)
    return image_to_array(msg, role, allowed, max_pixels), str(msg.encoding)


def rgb_from_image(msg: Any, role: str = "RGB image", max_pixels: int | None = None) -> np.ndarray:
    """RGB-camera message (rgb8, bgr8, rgba8, bgra8, mono8; raw or compressed) -> (H, W, 3) uint8 in RGB order."""
    pixels, encoding = _pixels_and_encoding(msg, role, RGB_ENCODINGS, max_pixels)
    if encoding == "mono8":
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    return pixels


def x_from_image(msg: Any, role: str = "X image", max_pixels: int | None = None) -> np.ndarray:
    """X-camera message -> raw X for preprocessing: (H, W) uint8/uint16/float32 or (H, W, 3) uint8 in RGB order.

    Accepts mono8, mono16, 8UC1, 16UC1, 32FC1, 8UC3, rgb8, bgr8 and 32FC3, raw or compressed (bgr8 is reordered
    to RGB so that a 3-channel X has one channel order whatever the camera driver publishes).
    """
    pixels, encoding = _pixels_and_encoding(msg, role, X_ENCODINGS, max_pixels)
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    return pixels


def array_to_image_fields(array_: np.ndarray, encoding: str) -> dict[str, Any]:
    """Numpy array -> the Image fields (height, width, encoding, is_bigendian, step, data) without the header.

    `data` is a flat uint8 numpy array (what rosbags messages hold); `array_to_image` turns it into an rclpy
    message. The array must match the encoding's dtype and channel count.
    """
    info, native = check_array(array_, encoding)
    height, width = native.shape[:2]
    return {
        "height": int(height),
        "width": int(width),
        "encoding": encoding,
        "is_bigendian": int(sys.byteorder == "big"),
        "step": int(width * info.pixel_bytes),
        "data": native.reshape(-1).view(np.uint8),
    }


def array_to_image(array_: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Numpy array -> sensor_msgs.msg.Image (rclpy) with the given header (copied by reference)."""
    # sensor_msgs: ROS only; the offline bag tools (rosbags messages, pip-only venvs) import this module without it
    from sensor_msgs.msg import Image

    fields = array_to_image_fields(array_, encoding)
    bridge = _BRIDGE.get()
    if bridge is not None:
        msg = bridge.cv2_to_imgmsg(np.ascontiguousarray(array_), encoding=encoding)
    else:
        msg = Image()
        msg.height, msg.width = fields["height"], fields["width"]
        msg.encoding, msg.is_bigendian, msg.step = encoding, fields["is_bigendian"], fields["step"]
        # array.array is the only container the generated setter takes without a per-byte check.
        data = array.array("B")
        data.frombytes(fields["data"])  # one copy, straight from the numpy buffer
        msg.data = data
    if header is not None:
        msg.header = header
    return msg


def message_image_size(msg: Any, array: np.ndarray | None) -> tuple[int, int] | None:
    """(height, width) of an image message: its fields (raw) or its decoded pixels (compressed; None when
    it could not be decoded).
    """
    if not is_compressed(msg):
        return int(msg.height), int(msg.width)
    return None if array is None else (int(array.shape[0]), int(array.shape[1]))
