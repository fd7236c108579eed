"""sensor_msgs/Image <-> numpy, with cv_bridge's decoding rules and clear errors for malformed messages.

Functions accept any object with `height`, `width`, `encoding`, `step`, `is_bigendian` and `data` (rclpy
messages, rosbags messages, `types.SimpleNamespace`), so the node and the offline bag tools share one decoder.
Where the ROS 2 `cv_bridge` is installed (and passes a self-check at first use) it does the decoding and encoding;
otherwise our converter applies the same rules: rows are `step` bytes long (padding dropped), multi-byte pixels
follow `is_bigendian`, and arrays come back (H, W) for one channel or (H, W, C) otherwise.

Before decoding, every message is checked (`check_image_layout`) so that a bad publisher gets an error naming the
field and the fix instead of a numpy exception or a silently garbled picture.

sensor_msgs/CompressedImage (any object with `format` and `data`, no `encoding`) goes through the same functions,
decoded with OpenCV as image_transport's plugins do:
- `compressed` (`<encoding>; jpeg|png compressed <target>`, or a bare "jpeg"/"png" from old publishers): 8-bit
  colour and mono, 16-bit mono PNG. The decoded channel order is the target's ("compressed bgr8": BGR; old
  formats: BGR), so `rgb_from_image` / `x_from_image` reorder exactly as for raw bgr8.
- `compressedDepth` (`16UC1|32FC1; compressedDepth png`): a 12-byte little-endian ConfigHeader (int32 format,
  float32 depthParam[2]) then a 16-bit PNG. 16UC1 is the PNG as is; 32FC1 is inverse depth,
  depth = depthParam[0] / (v - depthParam[1]) for v > 0 and NaN for v = 0.
A truncated or corrupt payload (no JPEG end marker / PNG IEND chunk, or OpenCV cannot decode it) raises
`ImageConversionError` with cause "corrupt", like any other bad input. `array_to_compressed_fields` encodes.
"""

from __future__ import annotations

import array
import re
import struct
import sys
from dataclasses import dataclass
from typing import Any

import cv2
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


def _check_encoding(encoding: str, role: str, allowed: tuple[str, ...] | None, what: str = "encoding"
                    ) -> EncodingInfo:
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


def _check_size(height: int, width: int, role: str, max_pixels: int | None) -> None:
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            "zero_size", f"{role}: image is {width}x{height} (WxH); height and width must be > 0")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageConversionError(
            "oversized", f"{role}: image is {width}x{height} = {height * width} pixels, more than "
            f"max_image_pixels={max_pixels}; raise the parameter max_image_pixels or publish smaller images")


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
    info = _check_encoding(encoding, role, allowed)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size(height, width, role, max_pixels)
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


# ---------------------------------------------------------------------------------------------------------------
# sensor_msgs/CompressedImage (image_transport's compressed and compressedDepth transports)


def is_compressed(msg: Any) -> bool:
    """Whether `msg` is CompressedImage-like (a `format` string and `data`, no `encoding`)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


@dataclass(frozen=True)
class CompressedFormat:
    """What a CompressedImage `format` says: the original encoding ("" when an old publisher did not say), the
    codec ("jpeg" or "png"), whether it is compressedDepth (ConfigHeader + PNG) and whether colour is BGR."""

    encoding: str
    codec: str
    depth: bool
    bgr: bool


def parse_compressed_format(text: str, role: str = "compressed image") -> CompressedFormat:
    """Parse image_transport's format string: "rgb8; jpeg compressed bgr8", "16UC1; compressedDepth png", or an
    old publisher's bare "jpeg" / "png" (BGR colour) or bare depth encoding (compressedDepth PNG)."""
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
    payload = _data_as_bytes(msg.data)
    params = (0.0, 0.0)
    if fmt.depth:
        _check_encoding(fmt.encoding, role, ("16UC1", "mono16", "32FC1"), "compressedDepth encoding")
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
    _check_size(*size, role, max_pixels)
    return fmt, payload, params


def check_compressed_layout(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                            max_pixels: int | None = None) -> EncodingInfo | None:
    """Validate a CompressedImage-like message without decoding it (format, header, size, end marker); returns
    the EncodingInfo of the stated encoding (None when an old publisher did not state one)."""
    fmt, _, _ = _inspect_compressed(msg, role, allowed, max_pixels)
    return encoding_info(fmt.encoding)


def decode_compressed(msg: Any, role: str = "image", allowed: tuple[str, ...] | None = None,
                      max_pixels: int | None = None) -> tuple[np.ndarray, str]:
    """CompressedImage-like message -> (pixels, encoding naming them): colour in the payload's channel order
    (bgr8/rgb8/bgra8/rgba8, 16-bit alike), mono8/mono16 (or the stated 1-channel encoding), compressedDepth 16UC1 as
    stored and 32FC1 de-quantised (NaN where no depth). Raises ImageConversionError."""
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
    _check_encoding(encoding, role, allowed, "decoded encoding")
    return pixels, encoding


def array_to_compressed_fields(array_: np.ndarray, encoding: str, compression: str,
                               jpeg_quality: int = JPEG_QUALITY) -> dict[str, Any]:
    """numpy array in `encoding` -> CompressedImage fields {"format", "data" (flat uint8)} as image_transport's
    publishers write them: jpeg/png colour as BGR ("rgb8; jpeg compressed bgr8"), mono as is, compressedDepth for
    16UC1/mono16 (lossless) and 32FC1 (inverse-depth quantisation, depth_max 10 m, quantisation 100)."""
    fields = array_to_image_fields(array_, encoding)  # checks dtype and channels
    info = encoding_info(encoding)
    pixels = np.asarray(array_)
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
        raise ImageConversionError("encoding", f"OpenCV could not encode a {fields['width']}x{fields['height']} "
                                   f"{encoding} image as {compression}")
    return {"format": text, "data": np.ascontiguousarray(data, dtype=np.uint8)}


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
            from cv_bridge import CvBridge  # optional: ROS 2 installs have it, the PyPI wheels do not
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
    reshape by step / pixel size get wrong; a bridge that raises or differs is not used."""
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

    A CompressedImage-like message is decoded (`decode_compressed`): its array is in the decoded encoding."""
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


def message_image_size(msg: Any, array: np.ndarray | None) -> tuple[int, int] | None:
    """(height, width) of an image message: its fields (raw) or its decoded pixels (compressed; None when
    it could not be decoded)."""
    if not is_compressed(msg):
        return int(msg.height), int(msg.width)
    return None if array is None else (int(array.shape[0]), int(array.shape[1]))
