# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/CompressedImage <-> numpy, decoded and encoded with OpenCV as image_transport's plugins do.

Functions accept any object with `format` and `data` (and no `encoding`): rclpy messages, rosbags messages,
`types.SimpleNamespace`.
- `compressed` (`<encoding>; jpeg|png compressed <target>`, or a bare "jpeg"/"png" from old publishers): 8-bit
  colour and mono, 16-bit mono PNG. The decoded channel order is the target's ("compressed bgr8": BGR; old
  formats: BGR), so `image_conversion.rgb_from_image` / `x_from_image` reorder exactly as for raw bgr8.
- `compressedDepth` (`16UC1|32FC1; compressedDepth png`): a 12-byte little-endian ConfigHeader (int32 format,
  float32 depthParam[2]) then a 16-bit PNG. 16UC1 is the PNG as is; 32FC1 is inverse depth,
  depth = depthParam[0] / (v - depthParam[1]) for v > 0 and NaN for v = 0.
A truncated or corrupt payload (no JPEG end marker / PNG IEND chunk, or OpenCV cannot decode it) raises
`ImageConversionError` with cause "corrupt", like any other bad input. `check_compressed_layout` checks a message
without decoding it; `decode_compressed` decodes; `array_to_compressed_fields` encodes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rxssnet_ros.image_encodings import (
    EncodingInfo,
    ImageConversionError,
    check_array,
    check_encoding,
    check_size,
    data_as_bytes,
    encoding_info,
)

# image_transport transports: subscribed as <topic> (raw Image) or <topic>/<transport> (CompressedImage).
TRANSPORTS = ("raw", "compressed", "compressedDepth")
COMPRESSIONS = ("jpeg", "png", "compressedDepth")
# compressed_depth_image_transport's ConfigHeader: enum compressionFormat (int32, INV_DEPTH = 0), depthParam[2].
_DEPTH_HEADER = struct.Struct("<iff")
# compressed_depth_image_transport's defaults for 32FC1 (depth_max m, depth_quantization).
DEPTH_MAX_M = 10.0
DEPTH_QUANTIZATION = 100.0
JPEG_QUALITY = 95  # image_transport's default jpeg_quality
PNG_LEVEL = 3  # image_transport's default png_level
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def is_compressed(msg: Any) -> bool:
    """Whether `msg` is CompressedImage-like (a `format` string and `data`, no `encoding`)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


@dataclass(frozen=True)
class CompressedFormat:
    """What a CompressedImage `format` says: the original encoding ("" when an old publisher did not say), the
    codec ("jpeg" or "png"), whether it is compressedDepth (ConfigHeader + PNG) and whether colour is BGR.
    """

    encoding: str
    codec: str
    depth: bool
    bgr: bool


def parse_compressed_format(text: str, role: str = "compressed image") -> CompressedFormat:
    """Parse image_transport's format string: "rgb8; jpeg compressed bgr8", "16UC1; compressedDepth png", or an
    old publisher's bare "jpeg" / "png" (BGR colour) or bare depth encoding (compressedDepth PNG).
    """
    text = str(text).strip()
    head, separator, tail = text.partition(";")
    head, tail = head.strip(), tail.strip()
    if not separator:
        if head.lower() in ("jpeg", "jpg", "png"):
            return CompressedFormat("", "png" if head.lower() == "png" else "jpeg", False, True)
        if head in ("16UC1", "32FC1", "mono16"):
            return CompressedFormat(head, "png", True, False)
    elif "compressedDepth" in tail:
        if "rvl" in tail:
            raise ImageConversionError("format", f"{role}: format {text!r}: compressedDepth RVL is not supported; "
                                       "set the publisher's compressedDepth format parameter to png", text)
        return CompressedFormat(head, "png", True, False)
    elif "jpeg" in tail or "png" in tail:
        return CompressedFormat(head, "jpeg" if "jpeg" in tail else "png", False, "compressed bgr" in tail)
    raise ImageConversionError(
        "format", f"{role}: CompressedImage format {text!r} is not one image_transport writes; publish with the "
        "compressed (jpeg or png) or compressedDepth (png) transport", text)


def _payload_size(payload: np.ndarray, codec: str) -> tuple[int, int] | None:
    """(height, width) from a PNG IHDR or a JPEG SOF marker, without decoding; None when not found."""
    data = payload.data
    if codec == "png":
        # the first chunk must be IHDR (PNG spec); anything else is not a size
        if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
            return None
        width, height = struct.unpack_from(">II", data, 16)
        return int(height), int(width)
    index = 2
    while index + 9 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
        elif 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            index += 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack_from(">HH", data, index + 5)
            return int(height), int(width)
        else:
            index += 2 + struct.unpack_from(">H", data, index + 2)[0]
    return None


def _inspect_compressed(msg: Any, role: str, allowed: tuple[str, ...] | None, max_pixels: int | None
                        ) -> tuple[CompressedFormat, np.ndarray, tuple[float, float]]:
    """Format, codec payload and depth quantisation of a CompressedImage, checked without decoding."""
    fmt = parse_compressed_format(msg.format, role)
    payload = data_as_bytes(msg.data)
    params = (0.0, 0.0)
    if fmt.depth:
        check_encoding(fmt.encoding, role, ("16UC1", "mono16", "32FC1"), "compressedDepth encoding")
        if payload.size <= _DEPTH_HEADER.size:
            raise ImageConversionError("corrupt", f"{role}: compressedDepth data has {payload.size} bytes, no room "
                                       f"for the {_DEPTH_HEADER.size}-byte header and a PNG; the message is truncated")
        kind, quant_a, quant_b = _DEPTH_HEADER.unpack_from(payload.data, 0)
        if kind != 0:
            raise ImageConversionError("corrupt", f"{role}: compressedDepth header names compression format {kind}, "
                                       "not INV_DEPTH (0); the payload is corrupt")
        params, payload = (quant_a, quant_b), payload[_DEPTH_HEADER.size:]
    magic, end = ((b"\xff\xd8", b"\xff\xd9") if fmt.codec == "jpeg" else (_PNG_MAGIC, _PNG_END))
    head = payload[: len(magic)].tobytes()
    if head != magic:
        raise ImageConversionError("corrupt", f"{role}: {fmt.codec} payload of {payload.size} bytes does not start "
                                   f"like a {fmt.codec.upper()} file ({head.hex()}); it is corrupt or the format "
                                   f"string {str(msg.format)!r} is wrong", fmt.codec)
    if not payload[-16:].tobytes().rstrip(b"\0").endswith(end):
        raise ImageConversionError("corrupt", f"{role}: {fmt.codec} payload of {payload.size} bytes has no end "
                                   f"marker; the message is truncated", fmt.codec)
    size = _payload_size(payload, fmt.codec)
    if size is None:
        raise ImageConversionError("corrupt", f"{role}: {fmt.codec} payload of {payload.size} bytes has no image "
                                   "size header; it is corrupt", fmt.codec)
    check_size(*size, role, max_pixels)
    return fmt, payload, params


def check_compressed_layout(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                            max_pixels: int | None = None) -> EncodingInfo | None:
    """Validate a CompressedImage-like message without decoding it (format, header, size, end marker); returns
    the EncodingInfo of the stated encoding (None when an old publisher did not state one).
    """
    fmt, _, _ = _inspect_compressed(msg, role, allowed, max_pixels)
    return encoding_info(fmt.encoding)


def decode_compressed(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                      max_pixels: int | None = None) -> tuple[np.ndarray, str]:
    """CompressedImage-like message -> (pixels, encoding naming them): colour in the payload's channel order
    (bgr8/rgb8/bgra8/rgba8, 16-bit alike), mono8/mono16 (or the stated 1-channel encoding), compressedDepth 16UC1 as
    stored and 32FC1 de-quantised (NaN where no depth). Raises ImageConversionError.
    """
    fmt, payload, (quant_a, quant_b) = _inspect_compressed(msg, role, allowed, max_pixels)
    try:
        pixels = cv2.imdecode(payload, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageConversionError("corrupt", f"{role}: {fmt.codec} payload cannot be decoded ({error}); it is "
                                   "corrupt", fmt.codec) from None
    if pixels is None or pixels.size == 0:
        raise ImageConversionError("corrupt", f"{role}: {fmt.codec} payload of {payload.size} bytes cannot be "
                                   "decoded; it is corrupt or truncated", fmt.codec)
    channels = 1 if pixels.ndim == 2 else int(pixels.shape[2])
    if fmt.depth:
        if channels != 1 or pixels.dtype != np.uint16:
            raise ImageConversionError("corrupt", f"{role}: compressedDepth PNG holds {channels} channel(s) of "
                                       f"{pixels.dtype}, not one 16-bit channel; the payload is corrupt")
        if encoding_info(fmt.encoding).dtype == np.float32:
            depth = np.full(pixels.shape, np.nan, dtype=np.float32)
            valid = pixels > 0
            depth[valid] = np.float32(quant_a) / (pixels[valid].astype(np.float32) - np.float32(quant_b))
            return depth, "32FC1"
        return pixels, fmt.encoding
    bits = 8 if pixels.dtype == np.uint8 else 16
    if channels == 1:
        stated = encoding_info(fmt.encoding)
        single = stated is not None and stated.channels == 1 and stated.dtype == pixels.dtype
        encoding = fmt.encoding if single else f"mono{bits}"
    elif channels in (3, 4):
        order = "bgr" if fmt.bgr or not fmt.encoding else "rgb"
        encoding = f"{order}{'a' if channels == 4 else ''}{bits}"
    else:
        raise ImageConversionError("corrupt", f"{role}: {fmt.codec} payload decodes to {channels} channels")
    check_encoding(encoding, role, allowed, "decoded encoding")
    return pixels, encoding


def array_to_compressed_fields(array_: np.ndarray, encoding: str, compression: str,
                               jpeg_quality: int = JPEG_QUALITY) -> dict[str, Any]:
    """Numpy array in `encoding` -> CompressedImage fields {"format", "data" (flat uint8)} as image_transport's
    publishers write them: jpeg/png colour as BGR ("rgb8; jpeg compressed bgr8"), mono as is, compressedDepth for
    16UC1/mono16 (lossless) and 32FC1 (inverse-depth quantisation, depth_max 10 m, quantisation 100).
    """
    info, pixels = check_array(array_, encoding)
    height, width = pixels.shape[:2]
    if compression == "compressedDepth":
        if info.channels != 1 or info.dtype not in (np.dtype(np.uint16), np.dtype(np.float32)):
            raise ImageConversionError("encoding", f"compressedDepth carries one 16-bit or 32-bit float channel; "
                                       f"{encoding} cannot use it (use png)")
        header = _DEPTH_HEADER.pack(0, 0.0, 0.0)
        if info.dtype == np.float32:
            quant_a = np.float32(DEPTH_QUANTIZATION * (DEPTH_QUANTIZATION + 1.0))
            quant_b = np.float32(1.0 - quant_a / np.float32(DEPTH_MAX_M))
            with np.errstate(invalid="ignore", divide="ignore"):
                valid = np.isfinite(pixels) & (pixels > 0) & (pixels < DEPTH_MAX_M)
                inverse = np.zeros(pixels.shape, np.uint16)
                inverse[valid] = np.minimum(quant_a / pixels[valid] + quant_b, 65535).astype(np.uint16)
            pixels, header = inverse, _DEPTH_HEADER.pack(0, float(quant_a), float(quant_b))
        ok, png = cv2.imencode(".png", np.ascontiguousarray(pixels), [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
        data = np.concatenate([np.frombuffer(header, np.uint8), png.reshape(-1)]) if ok else None
        text = f"{encoding}; compressedDepth png"
    elif compression in ("jpeg", "png"):
        if info.dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)) or (compression == "jpeg" and
                                                                             info.dtype != np.uint8):
            raise ImageConversionError("encoding", f"{compression} cannot carry {encoding}; use png for 16-bit and "
                                       "compressedDepth for depth")
        target = encoding
        if info.channels > 1:
            order = [2, 1, 0] if encoding.startswith("rgb") or info.name.endswith("C3") else [0, 1, 2]
            pixels = np.ascontiguousarray(pixels[:, :, order])
            target = f"bgr{info.dtype.itemsize * 8}"
        params = ([cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if compression == "jpeg"
                  else [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
        ok, encoded = cv2.imencode(".jpg" if compression == "jpeg" else ".png", pixels, params)
        data = encoded.reshape(-1) if ok else None
        text = f"{encoding}; {compression} compressed {target}"
    else:
        raise ImageConversionError("compression", f"compression {compression!r} is unknown; use one of "
                                   f"{', '.join(COMPRESSIONS)}")
    if data is None:
        raise ImageConversionError("encoding", f"OpenCV could not encode a {width}x{height} {encoding} image as "
                                   f"{compression}")
    return {"format": text, "data": np.ascontiguousarray(data, dtype=np.uint8)}
