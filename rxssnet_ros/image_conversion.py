"""sensor_msgs/Image <-> numpy, with cv_bridge's decoding rules and clear errors for malformed messages.

Functions accept any object with `height`, `width`, `encoding`, `step`, `is_bigendian` and `data` (rclpy
messages, rosbags messages, `types.SimpleNamespace`), so the node and the offline bag tools share one decoder.
Where the ROS 2 `cv_bridge` is installed (and passes a self-check at first use) it does the decoding and encoding;
otherwise our converter applies the same rules: rows are `step` bytes long (padding dropped), multi-byte pixels
follow `is_bigendian`, and arrays come back (H, W) for one channel or (H, W, C) otherwise.

Before decoding, every message is checked (`check_image_layout`) so that a bad publisher gets an error naming the
field and the fix instead of a numpy exception or a silently garbled picture.
"""

from __future__ import annotations

import array
import re
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

# Named encodings (sensor_msgs/image_encodings.hpp): dtype and channel count.
_NAMED_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("uint8", 3), "bgr8": ("uint8", 3), "rgba8": ("uint8", 4), "bgra8": ("uint8", 4),
    "rgb16": ("uint16", 3), "bgr16": ("uint16", 3), "rgba16": ("uint16", 4), "bgra16": ("uint16", 4),
    "mono8": ("uint8", 1), "mono16": ("uint16", 1),
}
_CV_DEPTHS = {"8U": "uint8", "8S": "int8", "16U": "uint16", "16S": "int16", "32S": "int32", "32F": "float32",
              "64F": "float64"}
_CV_PATTERN = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-4])$")

RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
# 32FC3 carries trichromatic AoLP/DoLP (ZJU-RGB-P with `trichromatic: true`).
X_ENCODINGS = ("mono8", "mono16", "8UC1", "16UC1", "32FC1", "8UC3", "rgb8", "bgr8", "32FC3")
# Sizes that fit an unsigned 32-bit step field; larger values arriving through other paths are nonsense.
_MAX_STEP = 2**31 - 1


class ImageConversionError(ValueError):
    """A message cannot be decoded; the text names the field and the fix.

    `cause` is a short category (for counters); `detail` tells two problems of one cause apart (the encoding), so
    that a throttled log keyed by cause and detail never hides a new problem behind an old one.
    """

    def __init__(self, cause: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.cause = cause
        self.detail = detail


@dataclass(frozen=True)
class EncodingInfo:
    """What an encoding string means: numpy dtype and channels per pixel."""

    name: str
    dtype: np.dtype
    channels: int

    @property
    def pixel_bytes(self) -> int:
        return self.dtype.itemsize * self.channels


def encoding_info(encoding: str) -> EncodingInfo | None:
    """The dtype and channel count of a sensor_msgs encoding, or None when it is not a plain pixel format."""
    if encoding in _NAMED_ENCODINGS:
        dtype, channels = _NAMED_ENCODINGS[encoding]
        return EncodingInfo(encoding, np.dtype(dtype), channels)
    match = _CV_PATTERN.match(encoding or "")
    if match:
        return EncodingInfo(encoding, np.dtype(_CV_DEPTHS[match.group(1)]), int(match.group(2)))
    return None


def _data_as_bytes(data: Any) -> np.ndarray:
    """The message's data field as a flat uint8 array, without copying where the container allows it."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def _data_length(data: Any) -> int:
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(data, array.array):
        return len(data) * data.itemsize
    return len(data)


def check_image_layout(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                       max_pixels: int | None = None) -> EncodingInfo:
    """Validate an Image-like message's fields; return its EncodingInfo or raise ImageConversionError.

    role names the input in messages (e.g. "RGB image on /cam/rgb"); allowed restricts the encodings; max_pixels
    rejects images larger than height * width pixels (the node's `max_image_pixels` parameter).
    """
    encoding = str(msg.encoding)
    info = encoding_info(encoding)
    if info is None:
        supported = ", ".join(allowed) if allowed else "rgb8, bgr8, rgba8, bgra8, mono8, mono16, <depth>C<n>"
        raise ImageConversionError(
            "encoding", f"{role}: encoding {encoding!r} is not supported; publish one of {supported}", encoding)
    if allowed is not None and encoding not in allowed:
        if info.channels not in {encoding_info(a).channels for a in allowed}:
            raise ImageConversionError(
                "channels", f"{role}: encoding {encoding!r} has {info.channels} channel(s), which this input "
                f"cannot use; publish one of {', '.join(allowed)}", encoding)
        raise ImageConversionError(
            "encoding", f"{role}: encoding {encoding!r} is not accepted here; publish one of {', '.join(allowed)}",
            encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            "zero_size", f"{role}: image is {width}x{height} (WxH); height and width must be > 0")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageConversionError(
            "oversized", f"{role}: image is {width}x{height} = {height * width} pixels, more than "
            f"max_image_pixels={max_pixels}; raise the parameter max_image_pixels or publish smaller images")
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
    length = _data_length(msg.data)
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
    raw = _data_as_bytes(msg.data)[: step * height]
    dtype = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = raw.reshape(height, step)[:, : width * info.pixel_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype)
    if not dtype.isnative:
        pixels = pixels.astype(info.dtype)
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    return pixels.reshape(shape)


class _Bridge:
    """cv_bridge, used only when it is the ROS 2 one and decodes a padded big-endian test image as we do."""

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
            from cv_bridge import CvBridge
            from sensor_msgs.msg import Image
        except Exception:  # any import failure means: use our converter
            return None
        try:
            bridge = CvBridge()
            probe = np.arange(2 * 3, dtype=np.uint16).reshape(2, 3) * 257
            msg = bridge.cv2_to_imgmsg(probe, encoding="mono16")
            if not isinstance(msg, Image) or msg.step != 6:
                return None
            padded = Image(height=2, width=3, encoding="rgb8", is_bigendian=0, step=12)
            padded.data = array.array("B", bytes(range(24)))
            ours = _decode_ours(padded, encoding_info("rgb8"))
            theirs = bridge.imgmsg_to_cv2(padded, desired_encoding="passthrough")
            if not np.array_equal(np.asarray(theirs), ours):
                return None
            return bridge
        except Exception:  # e.g. the ROS 1 cv-bridge from PyPI (ndarray.tostring is gone in numpy 2)
            return None


_BRIDGE = _Bridge()


def cv_bridge_in_use() -> bool:
    """Whether the ROS 2 cv_bridge is installed and used for conversions."""
    return _BRIDGE.get() is not None


def image_to_array(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                   max_pixels: int | None = None) -> np.ndarray:
    """Image-like message -> numpy array in its own encoding ("passthrough"): (H, W) or (H, W, C), native order."""
    info = check_image_layout(msg, role, allowed, max_pixels)
    bridge = _BRIDGE.get()
    # cv_bridge mishandles big-endian data with numpy 2 (ndarray.newbyteorder is gone): ours does it.
    if bridge is not None and not msg.is_bigendian and type(msg).__module__.startswith("sensor_msgs"):
        return np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
    return _decode_ours(msg, info)


def rgb_from_image(msg: Any, role: str = "RGB image", max_pixels: int | None = None) -> np.ndarray:
    """RGB-camera message (rgb8, bgr8, rgba8, bgra8, mono8) -> (H, W, 3) uint8 in RGB order."""
    pixels = image_to_array(msg, role, RGB_ENCODINGS, max_pixels)
    encoding = msg.encoding
    if encoding == "mono8":
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    return pixels


def x_from_image(msg: Any, role: str = "X image", max_pixels: int | None = None) -> np.ndarray:
    """X-camera message -> raw X for preprocessing: (H, W) uint8/uint16/float32 or (H, W, 3) uint8 in RGB order.

    Accepts mono8, mono16, 8UC1, 16UC1, 32FC1, 8UC3, rgb8, bgr8 and 32FC3 (bgr8 is reordered to RGB so that a 3-channel
    X has one channel order whatever the camera driver publishes).
    """
    pixels = image_to_array(msg, role, X_ENCODINGS, max_pixels)
    if msg.encoding == "bgr8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    return pixels


def nonfinite_fraction(array_: np.ndarray) -> float:
    """Fraction of NaN or infinite values (0.0 for integer arrays)."""
    if array_.dtype.kind != "f" or array_.size == 0:
        return 0.0
    return float(1.0 - np.count_nonzero(np.isfinite(array_)) / array_.size)


def array_to_image_fields(array_: np.ndarray, encoding: str) -> dict[str, Any]:
    """numpy array -> the Image fields (height, width, encoding, is_bigendian, step, data) without the header.

    `data` is a flat uint8 numpy array (what rosbags messages hold); `array_to_image` turns it into an rclpy
    message. The array must match the encoding's dtype and channel count.
    """
    info = encoding_info(encoding)
    if info is None:
        raise ImageConversionError("encoding", f"cannot encode as {encoding!r}: unknown encoding")
    array_ = np.asarray(array_)
    channels = 1 if array_.ndim == 2 else (array_.shape[2] if array_.ndim == 3 else -1)
    if array_.ndim not in (2, 3) or channels != info.channels:
        raise ImageConversionError(
            "channels", f"cannot encode an array of shape {array_.shape} as {encoding} ({info.channels} channels)")
    if array_.dtype.newbyteorder("=") != info.dtype:
        raise ImageConversionError(
            "dtype", f"cannot encode a {array_.dtype} array as {encoding}; it needs {info.dtype}")
    native = np.ascontiguousarray(array_.astype(info.dtype, copy=False))
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
    """numpy array -> sensor_msgs.msg.Image (rclpy) with the given header (copied by reference)."""
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
        msg.data = array.array("B", fields["data"].tobytes())
    if header is not None:
        msg.header = header
    return msg
