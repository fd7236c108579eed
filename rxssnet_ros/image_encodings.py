# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a sensor_msgs encoding string means, and the checks every image decoder and encoder shares.

`encoding_info` turns an encoding (`rgb8`, `mono16`, `32FC1`, ...; sensor_msgs/image_encodings.hpp) into its numpy
dtype and channel count. `check_encoding`, `check_size` and `check_array` raise `ImageConversionError` naming the
field and the fix; `data_as_bytes` / `data_length` read a message's `data` field whatever container holds it
(bytes, array.array, numpy). Raw images (`image_conversion`) and compressed ones (`compressed_image`) build on
these, so both report a bad message the same way.
"""

from __future__ import annotations

import array
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rxssnet_core.errors import RXSSNetError

# Named encodings (sensor_msgs/image_encodings.hpp): dtype and channel count.
_NAMED_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("uint8", 3), "bgr8": ("uint8", 3), "rgba8": ("uint8", 4), "bgra8": ("uint8", 4),
    "rgb16": ("uint16", 3), "bgr16": ("uint16", 3), "rgba16": ("uint16", 4), "bgra16": ("uint16", 4),
    "mono8": ("uint8", 1), "mono16": ("uint16", 1),
}
_CV_DEPTHS = {"8U": "uint8", "8S": "int8", "16U": "uint16", "16S": "int16", "32S": "int32", "32F": "float32",
              "64F": "float64"}
_CV_PATTERN = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-4])$")


class ImageConversionError(RXSSNetError, ValueError):
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


def data_as_bytes(data: Any) -> np.ndarray:
    """A message's data field as a flat uint8 array, without copying where the container allows it."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def data_length(data: Any) -> int:
    """The length in bytes of a message's data field."""
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(data, array.array):
        return len(data) * data.itemsize
    return len(data)


def check_encoding(encoding: str, role: str, allowed: tuple[str, ...] | None, what: str = "encoding"
                   ) -> EncodingInfo:
    """The EncodingInfo of `encoding`, or ImageConversionError when it is unknown or not in `allowed`."""
    info = encoding_info(encoding)
    if info is None:
        supported = ", ".join(allowed) if allowed else "rgb8, bgr8, rgba8, bgra8, mono8, mono16, <depth>C<n>"
        raise ImageConversionError(
            "encoding", f"{role}: {what} {encoding!r} is not supported; publish one of {supported}", encoding)
    if allowed is not None and encoding not in allowed:
        if info.channels not in {encoding_info(a).channels for a in allowed}:
            raise ImageConversionError(
                "channels", f"{role}: {what} {encoding!r} has {info.channels} channel(s), which this input "
                f"cannot use; publish one of {', '.join(allowed)}", encoding)
        raise ImageConversionError(
            "encoding", f"{role}: {what} {encoding!r} is not accepted here; publish one of {', '.join(allowed)}",
            encoding)
    return info


def check_size(height: int, width: int, role: str, max_pixels: int | None) -> None:
    """ImageConversionError for an empty image or one larger than `max_pixels` (the node's max_image_pixels)."""
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            "zero_size", f"{role}: image is {width}x{height} (WxH); height and width must be > 0")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageConversionError(
            "oversized", f"{role}: image is {width}x{height} = {height * width} pixels, more than "
            f"max_image_pixels={max_pixels}; raise the parameter max_image_pixels or publish smaller images")


def check_array(array_: np.ndarray, encoding: str) -> tuple[EncodingInfo, np.ndarray]:
    """(EncodingInfo, C-contiguous native-order array) for encoding `array_` as `encoding`; ImageConversionError
    when the encoding is unknown or the array's dtype or channel count does not match it.
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
    return info, np.ascontiguousarray(array_.astype(info.dtype, copy=False))
