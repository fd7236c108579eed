# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Bad input never stops segment_node: each problem gets one clear, throttled log line, and the next good pair
is answered. Valid-but-unusual messages (big-endian, padded rows, BGR, partial NaN) are decoded correctly.

One node for the whole module (x_alignment none, reliable inputs, max_image_pixels 20000); the harness sends
a bad message (or pair), then a good pair, and waits for the log line on /rosout and the good pair's labels.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from ros_harness import (
    Harness,
    NodeProcess,
    diagnostic_values,
    image_msg,
    image_to_numpy,
    raw_image_msg,
    ros_child_env,
    torch_threads,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

H, W = 64, 80
MS = 1_000_000
NS = "/bad"
LOGGER = "bad.segment_node"
_stamps = itertools.count(1_700_000_000 * 1_000_000_000, 100 * MS)


@pytest.fixture(scope="module")
def setup(tiny_checkpoint):
    from rxssnet_core import Segmenter

    node = NodeProcess({"checkpoint": str(tiny_checkpoint), "input_qos": "reliable", "max_image_pixels": 20000,
                        "x_timeout": 1.0, "input_timeout": 120.0, "log_throttle_period": 120.0,
                        "diagnostics_period": 0.5}, ros_child_env(), namespace=NS)
    harness = Harness("bad_input_harness")
    rgb_pub = harness.publisher(f"{NS}/segment_node/rgb/image")
    x_pub = harness.publisher(f"{NS}/segment_node/x/image")
    labels = harness.collect(f"{NS}/segment_node/labels")
    try:
        assert harness.wait_for_subscribers([rgb_pub, x_pub], 90), node.output
        assert harness.wait_for_publishers([f"{NS}/segment_node/labels"], 30), node.output
        yield harness, node, rgb_pub, x_pub, labels, Segmenter.from_checkpoint(tiny_checkpoint)
    finally:
        harness.close()
        code = node.stop()
        assert code == 0, f"segment_node exited with {code}:\n{node.output}"


def _images(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)


def _send_good_pair(setup) -> int:
    _, node, rgb_pub, x_pub, labels, _ = setup
    stamp = next(_stamps)
    rgb, x = _images(stamp % 10_000)
    x_pub.publish(image_msg(x, "mono8", stamp))
    rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
    assert labels.wait_for(lambda m: stamp in labels.by_stamp(), 30), \
        f"the node did not answer a good pair:\n{node.output[-3000:]}"
    return stamp


def _bad_then_good(setup, bad_rgb=None, bad_x=None, expect: str = "", repeat: int = 1) -> list[str]:
    """Publish a pair where one side (or both) is `bad_*(stamp)`, then a good pair; return the node's log lines."""
    harness, node, rgb_pub, x_pub, _, _ = setup
    for _ in range(repeat):
        stamp = next(_stamps)
        rgb, x = _images(stamp % 10_000)
        x_pub.publish(bad_x(stamp) if bad_x else image_msg(x, "mono8", stamp))
        rgb_pub.publish(bad_rgb(stamp) if bad_rgb else image_msg(rgb, "rgb8", stamp))
    assert harness.wait_for_log(LOGGER, expect, 20), \
        f"no log line containing {expect!r}:\n{node.output[-3000:]}"
    _send_good_pair(setup)
    return harness.log_lines(LOGGER, expect)


def _raw(encoding: str, height: int = H, width: int = W, step: int | None = None, size: int | None = None,
         bytes_per_pixel: int = 3, **kwargs):
    def build(stamp: int):
        row = width * bytes_per_pixel if step is None else step
        data = bytes(row * height if size is None else size)
        return raw_image_msg(height, width, encoding, row, data, stamp, **kwargs)
    return build


BAD_MESSAGES = [
    # (case id, side, builder, text expected in the log line)
    ("rgb_unsupported_encoding", "rgb", _raw("yuv422", bytes_per_pixel=2), "encoding 'yuv422' is not supported"),
    ("x_unsupported_encoding", "x", _raw("bayer_rggb8", bytes_per_pixel=1), "encoding 'bayer_rggb8' is not"),
    ("rgb_16_bit", "rgb", _raw("rgb16", bytes_per_pixel=6), "encoding 'rgb16' is not accepted here"),
    ("x_rgb_encoding_with_alpha", "x", _raw("rgba8", bytes_per_pixel=4), "'rgba8' has 4 channel(s)"),
    ("x_wrong_channel_count", "x", _raw("8UC2", bytes_per_pixel=2), "'8UC2' has 2 channel(s)"),
    ("rgb_step_shorter_than_row", "rgb", _raw("rgb8", step=W * 3 - 3), "is shorter than a row"),
    ("x_step_not_element_multiple", "x", _raw("mono16", step=W * 2 + 1, bytes_per_pixel=2),
     "not a multiple of the 2-byte element size"),
    ("x_extra_data", "x", _raw("mono8", size=H * W + 10, bytes_per_pixel=1), "check height and step"),
    ("rgb_zero_size", "rgb", _raw("rgb8", height=0, width=0), "height and width must be > 0"),
    ("x_negative_step", "x", _raw("mono8", step=2**32 - 1, size=H * W, bytes_per_pixel=1),
     "is not a valid row length"),
    ("rgb_oversized", "rgb", _raw("rgb8", height=150, width=200), "more than max_image_pixels=20000"),
    ("rgb_empty_encoding", "rgb", _raw("", bytes_per_pixel=3), "encoding '' is not supported"),
]


@pytest.mark.parametrize("case,side,builder,expect", BAD_MESSAGES, ids=[c[0] for c in BAD_MESSAGES])
def test_bad_message_is_logged_and_the_next_pair_answered(setup, case, side, builder, expect):
    lines = _bad_then_good(setup, **{f"bad_{side}": builder}, expect=expect)
    assert len(lines) == 1, lines
    topic = f"{NS}/segment_node/{side}/image"
    assert topic in lines[0] and ": dropped" in lines[0], lines[0]


def test_truncated_data_is_logged_once_per_throttle_period(setup):
    lines = _bad_then_good(setup, bad_rgb=_raw("rgb8", size=H * W * 3 // 2), expect="the message is truncated",
                           repeat=3)
    assert len(lines) == 1, f"three truncated images must give one log line (throttled by cause): {lines}"
    assert "data has 7680 bytes but step * height = 240 * 64 = 15360" in lines[0]


def test_size_mismatch_with_alignment_none_errors_once_per_cause(setup):
    def small_x(stamp: int):
        return image_msg(np.zeros((H // 2, W // 2), np.uint8), "mono8", stamp)

    lines = _bad_then_good(setup, bad_x=small_x, expect="x_alignment=none needs the X image at the RGB size",
                           repeat=3)
    assert len(lines) == 1, lines
    assert "X is 40x32 and RGB is 80x64" in lines[0] and "x_alignment to resize" in lines[0]


def test_out_of_order_stamps_are_dropped(setup):
    harness, node, rgb_pub, x_pub, labels, _ = setup
    good = _send_good_pair(setup)
    old = good - 50 * MS  # off the 100 ms grid of the other stamps: no label can carry it
    rgb, x = _images(7)
    x_pub.publish(image_msg(x, "mono8", old))
    rgb_pub.publish(image_msg(rgb, "rgb8", old))
    for stream in ("rgb", "x"):
        assert harness.wait_for_log(LOGGER, f"{stream}/image: stamp", 20), node.output[-2000:]
    assert "is older than the previous message" in harness.log_lines(LOGGER, "rgb/image: stamp")[0]
    _send_good_pair(setup)
    assert old not in labels.by_stamp()


def test_all_nonfinite_x_is_rejected(setup):
    def all_nan(stamp: int):
        x = np.full((H, W), np.nan, np.float32)
        x[::2] = np.inf
        return image_msg(x, "32FC1", stamp)

    lines = _bad_then_good(setup, bad_x=all_nan, expect="every pixel is NaN or inf")
    assert len(lines) == 1


def _expect_labels(setup, rgb_msg, x_msg, rgb: np.ndarray, x: np.ndarray) -> None:
    _, node, rgb_pub, x_pub, labels, segmenter = setup
    stamp = rgb_msg.header.stamp.sec * 1_000_000_000 + rgb_msg.header.stamp.nanosec
    x_pub.publish(x_msg)
    rgb_pub.publish(rgb_msg)
    assert labels.wait_for(lambda m: stamp in labels.by_stamp(), 30), node.output[-3000:]
    with torch_threads(1):
        expected = segmenter.segment(rgb, x).labels
    np.testing.assert_array_equal(image_to_numpy(labels.by_stamp()[stamp]), expected)


def test_partial_nan_thermal_is_segmented_with_an_info_line(setup):
    harness = setup[0]
    stamp = next(_stamps)
    rgb, _ = _images(11)
    x = np.random.default_rng(11).normal(30.0, 5.0, (H, W)).astype(np.float32)
    x[:8] = np.nan
    x[8:10] = np.inf
    _expect_labels(setup, image_msg(rgb, "rgb8", stamp), image_msg(x, "32FC1", stamp), rgb, x)
    assert harness.wait_for_log(LOGGER, "15.6% of the pixels are NaN or inf", 10)


def test_big_endian_mono16_is_decoded_not_rejected(setup):
    stamp = next(_stamps)
    rgb, _ = _images(12)
    x = np.random.default_rng(12).integers(0, 65535, (H, W), dtype=np.uint16)
    msg = raw_image_msg(H, W, "mono16", W * 2, x.astype(">u2").tobytes(), stamp, is_bigendian=1)
    _expect_labels(setup, image_msg(rgb, "rgb8", stamp), msg, rgb, x)


def test_padded_rows_and_bgr_order_are_decoded(setup):
    stamp = next(_stamps)
    rgb, x = _images(13)
    step = W * 3 + 16
    padded = np.zeros((H, step), np.uint8)
    padded[:, : W * 3] = rgb[:, :, ::-1].reshape(H, W * 3)  # BGR with 16 bytes of row padding
    rgb_msg = raw_image_msg(H, W, "bgr8", step, padded.tobytes(), stamp)
    x_padded = np.zeros((H, W + 3), np.uint8)
    x_padded[:, :W] = x
    x_msg = raw_image_msg(H, W, "mono8", W + 3, x_padded.tobytes(), stamp)
    _expect_labels(setup, rgb_msg, x_msg, rgb, x)


def test_silent_x_stream_warns_in_diagnostics_and_log(setup):
    harness, _, rgb_pub, _, _, _ = setup
    harness.diagnostics.clear()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        rgb, _ = _images(1)
        rgb_pub.publish(image_msg(rgb, "rgb8", next(_stamps)))
        if harness.wait_for_log(LOGGER, "silent for", 0.1):
            break
    lines = harness.log_lines(LOGGER, "silent for")
    assert lines and f"X stream {NS}/segment_node/x/image" in lines[0] and "x_missing_policy: drop" in lines[0]
    assert harness.diagnostics.wait_for(lambda msgs: any(
        level == 1 and "X stream" in message
        for m in msgs for level, message, _ in diagnostic_values(m, f"{NS}/segment_node")), 5)
    _send_good_pair(setup)


def test_diagnostics_count_bad_inputs_by_cause(setup):
    harness, node, *_ = setup
    harness.diagnostics.clear()
    assert harness.diagnostics.wait_for(
        lambda msgs: any(diagnostic_values(m, f"{NS}/segment_node") for m in msgs), 10)
    statuses = [s for m in harness.diagnostics.messages for s in diagnostic_values(m, f"{NS}/segment_node")]
    causes = statuses[-1][2]["bad_input_causes"]
    for cause in ("rgb:encoding", "x:channels", "rgb:step", "rgb:truncated", "x:negative_step", "rgb:oversized",
                  "pair:alignment", "rgb:out_of_order"):
        assert cause in causes, causes
    assert node.proc.poll() is None, "the node must still be running"
