# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/CompressedImage decoding (image_transport's compressed and compressedDepth) and its bad inputs."""

from __future__ import annotations

import struct
import types

import cv2
import numpy as np
import pytest

from rxssnet_ros.compressed_image import array_to_compressed_fields, decode_compressed, parse_compressed_format
from rxssnet_ros.image_conversion import check_image_layout, rgb_from_image, x_from_image
from rxssnet_ros.image_encodings import ImageConversionError

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)
MONO8 = RNG.integers(0, 256, (12, 20), dtype=np.uint8)
MONO16 = RNG.integers(0, 65536, (12, 20), dtype=np.uint16)


def compressed(array: np.ndarray, encoding: str, compression: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(**array_to_compressed_fields(array, encoding, compression))


def upstream_png(array: np.ndarray, format_text: str) -> types.SimpleNamespace:
    """A payload made as image_transport makes one: OpenCV encodes BGR pixels, the format names the order."""
    ok, data = cv2.imencode(".png", array)
    assert ok
    return types.SimpleNamespace(format=format_text, data=data.reshape(-1).tobytes())


def test_png_round_trips_every_8_and_16_bit_encoding_losslessly():
    np.testing.assert_array_equal(rgb_from_image(compressed(RGB, "rgb8", "png")), RGB)
    np.testing.assert_array_equal(rgb_from_image(compressed(RGB[:, :, ::-1], "bgr8", "png")), RGB)
    np.testing.assert_array_equal(x_from_image(compressed(MONO8, "mono8", "png")), MONO8)
    decoded = x_from_image(compressed(MONO16, "mono16", "png"))
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, MONO16)


def test_colour_order_follows_the_format_string():
    """"rgb8; png compressed bgr8" holds BGR pixels, "rgb8; png compressed rgb8" RGB ones, a bare "png" BGR."""
    bgr = np.ascontiguousarray(RGB[:, :, ::-1])
    np.testing.assert_array_equal(rgb_from_image(upstream_png(bgr, "rgb8; png compressed bgr8")), RGB)
    np.testing.assert_array_equal(rgb_from_image(upstream_png(RGB, "rgb8; png compressed rgb8")), RGB)
    np.testing.assert_array_equal(rgb_from_image(upstream_png(bgr, "png")), RGB)
    np.testing.assert_array_equal(rgb_from_image(upstream_png(MONO8, "mono8; png compressed ")),
                                  np.stack([MONO8] * 3, axis=2))


def test_jpeg_is_close_and_keeps_colour_order():
    rows, cols = np.mgrid[0:48, 0:64]
    smooth = np.stack([cols * 4, rows * 5, 255 - cols * 4], axis=2).astype(np.uint8)
    msg = compressed(smooth, "rgb8", "jpeg")
    assert msg.format == "rgb8; jpeg compressed bgr8"
    decoded = rgb_from_image(msg).astype(int)
    # Quality 95 on smooth ramps: about a level of error; swapped R and B would be off by ~64 on average.
    assert np.abs(decoded - smooth).mean() < 3
    assert np.abs(decoded - smooth[:, :, ::-1]).mean() > 20


def test_compressed_depth_16uc1_is_lossless_and_has_the_upstream_header():
    msg = compressed(MONO16, "16UC1", "compressedDepth")
    assert msg.format == "16UC1; compressedDepth png"
    assert struct.unpack("<iff", msg.data[:12].tobytes()) == (0, 0.0, 0.0)
    assert msg.data[12:20].tobytes() == b"\x89PNG\r\n\x1a\n"
    decoded, encoding = decode_compressed(msg)
    assert encoding == "16UC1"
    np.testing.assert_array_equal(decoded, MONO16)


def test_compressed_depth_32fc1_dequantises_inverse_depth():
    depth = RNG.uniform(0.3, 9.5, (12, 20)).astype(np.float32)
    depth[0, :3] = np.nan  # no return
    depth[1, 0] = 12.0  # beyond depth_max (10 m): no depth
    msg = compressed(depth, "32FC1", "compressedDepth")
    kind, quant_a, quant_b = struct.unpack("<iff", msg.data[:12].tobytes())
    assert kind == 0 and quant_a == pytest.approx(100 * 101) and quant_b == pytest.approx(1 - 10100 / 10)
    decoded = x_from_image(msg)
    assert decoded.dtype == np.float32
    assert np.isnan(decoded[0, :3]).all() and np.isnan(decoded[1, 0])
    valid = np.isfinite(depth) & (depth < 10)
    # Inverse-depth quantisation: one step of v = A / d + B is A / d^2 in v, so the depth error is below d^2 / A.
    np.testing.assert_array_less(np.abs(decoded[valid] - depth[valid]), depth[valid] ** 2 / quant_a + 1e-6)


def test_compressed_depth_upstream_payload_decodes():
    """Bytes laid out as compressed_depth_image_transport writes them (header struct, then cv::imencode PNG)."""
    quant_a, quant_b = 100.0 * 101.0, 1.0 - 100.0 * 101.0 / 10.0
    inverse = np.array([[0, 2000], [5000, 60000]], np.uint16)
    ok, png = cv2.imencode(".png", inverse)
    assert ok
    msg = types.SimpleNamespace(format="32FC1; compressedDepth png",
                                data=struct.pack("<iff", 0, quant_a, quant_b) + png.tobytes())
    decoded = x_from_image(msg)
    assert np.isnan(decoded[0, 0])
    np.testing.assert_allclose(decoded[inverse > 0], np.float32(quant_a) / (inverse[inverse > 0] - np.float32(quant_b)),
                               rtol=1e-6)


@pytest.mark.parametrize("mutate,text", [
    (lambda d: d[: len(d) // 2], "no end marker; the message is truncated"),
    (lambda d: b"GIF89a" + d[6:], "does not start like a PNG file"),
    (lambda d: d[:8] + b"\0" * (len(d) - 8 - 12) + d[-12:], "no image size header; it is corrupt"),
    (lambda d: d[:33] + b"\0" * (len(d) - 33 - 12) + d[-12:], "cannot be decoded"),
    (lambda d: b"", "does not start like a PNG"),
])
def test_corrupt_payloads_raise_clear_errors(mutate, text):
    good = compressed(RGB, "rgb8", "png")
    bad = types.SimpleNamespace(format=good.format, data=mutate(good.data.tobytes()))
    with pytest.raises(ImageConversionError, match=text) as error:
        rgb_from_image(bad, role="RGB image on /cam/rgb/image/compressed")
    assert error.value.cause == "corrupt"
    assert str(error.value).startswith("RGB image on /cam/rgb/image/compressed")


def test_truncated_jpeg_is_refused_not_decoded_partially():
    good = compressed(RGB, "rgb8", "jpeg").data.tobytes()
    with pytest.raises(ImageConversionError, match="truncated"):
        rgb_from_image(types.SimpleNamespace(format="rgb8; jpeg compressed bgr8", data=good[:-40]))


def test_layout_check_reads_the_size_without_decoding():
    png = compressed(MONO8, "mono8", "png")
    jpeg = compressed(RGB, "rgb8", "jpeg")
    check_image_layout(png, "X", max_pixels=240)
    with pytest.raises(ImageConversionError, match="240 pixels, more than max_image_pixels=239"):
        check_image_layout(png, "X", max_pixels=239)
    with pytest.raises(ImageConversionError, match="240 pixels, more than max_image_pixels=100") as error:
        check_image_layout(jpeg, "RGB", max_pixels=100)
    assert error.value.cause == "oversized"


def test_formats_and_encodings_that_cannot_be_used():
    with pytest.raises(ImageConversionError, match="RVL is not supported; set the publisher's"):
        parse_compressed_format("16UC1; compressedDepth rvl")
    with pytest.raises(ImageConversionError, match="not one image_transport writes"):
        parse_compressed_format("rgb8; theora")
    rgb16 = RNG.integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    with pytest.raises(ImageConversionError, match="decoded encoding 'bgr16' is not accepted here") as error:
        rgb_from_image(compressed(rgb16, "rgb16", "png"))
    assert error.value.cause == "encoding"
    with pytest.raises(ImageConversionError, match="compressedDepth carries one 16-bit or 32-bit float"):
        array_to_compressed_fields(MONO8, "mono8", "compressedDepth")
    with pytest.raises(ImageConversionError, match="jpeg cannot carry mono16"):
        array_to_compressed_fields(MONO16, "mono16", "jpeg")
