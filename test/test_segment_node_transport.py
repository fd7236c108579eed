# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node with image_transport's compressed inputs: real rclpy, the node in its own process.

Two nodes start together: A (thermal) takes JPEG RGB and PNG thermal (`rgb_transport` / `x_transport`
compressed) on the remapped cameras' `<topic>/compressed`; B (depth) takes raw RGB and 16UC1 depth over
compressedDepth. Both must answer every pair with the labels of the decoded images, and a truncated JPEG is one
clear log line after which the node keeps serving.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, image_msg, image_to_numpy, make_stamp, ros_child_env, torch_threads

from rxssnet_ros.compressed_image import array_to_compressed_fields, decode_compressed

H, W = 64, 80
MS = 1_000_000
PAIRS = 5
_stamps = itertools.count(1_700_000_000 * 1_000_000_000, 100 * MS)


@pytest.fixture(scope="module")
def depth_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny network again, labelled as a depth model (uint16 millimetres)."""
    from rxssnet_core import load_model, save_model
    from rxssnet_core.preprocessing import PreprocessConfig

    model = load_model(tiny_checkpoint)
    path = tmp_path_factory.mktemp("depth") / "tiny_depth.safetensors"
    save_model(model, path, metadata={**model.metadata, "preprocess": PreprocessConfig(modality="depth").to_dict()})
    return path


@pytest.fixture(scope="module")
def graph(tiny_checkpoint, depth_checkpoint):
    from rxssnet_core import Segmenter

    env = ros_child_env()
    common = {"input_qos": "reliable", "log_throttle_period": 60.0, "input_timeout": 120.0}
    # The cameras are remapped at their base names: the node must subscribe <resolved base>/compressed, as
    # image_transport does, so that one remap moves every transport.
    node_a = NodeProcess({**common, "checkpoint": str(tiny_checkpoint), "rgb_transport": "compressed",
                          "x_transport": "compressed"}, env, namespace="/tr_a",
                         remaps={"~/rgb/image": "/tr_a/cam/rgb", "~/x/image": "/tr_a/cam/thermal"})
    node_b = NodeProcess({**common, "checkpoint": str(depth_checkpoint), "x_transport": "compressedDepth"}, env,
                         namespace="/tr_b", remaps={"~/rgb/image": "/tr_b/cam/rgb", "~/x/image": "/tr_b/cam/depth"})
    harness = Harness("transport_test_harness")
    try:
        yield harness, node_a, node_b, Segmenter.from_checkpoint(tiny_checkpoint), \
            Segmenter.from_checkpoint(depth_checkpoint)
    finally:
        harness.close()
        codes = (node_a.stop(), node_b.stop())
        outputs = "\n".join(n.output for n in (node_a, node_b))
        assert codes == (0, 0), f"nodes exited with {codes}:\n{outputs}"
        assert "Traceback" not in outputs, outputs


def compressed_msg(array: np.ndarray, encoding: str, compression: str, stamp_ns: int) -> object:
    from sensor_msgs.msg import CompressedImage

    fields = array_to_compressed_fields(array, encoding, compression)
    msg = CompressedImage(format=fields["format"], data=fields["data"].tobytes())
    msg.header.stamp = make_stamp(stamp_ns)
    msg.header.frame_id = "camera"
    return msg


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth RGB image (JPEG keeps it close), a thermal image and a depth image in millimetres."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([(xx * 3 + seed) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], axis=2).astype(np.uint8)
    thermal = rng.integers(0, 256, (H, W), dtype=np.uint8)
    depth = rng.integers(500, 8000, (H, W), dtype=np.uint16)
    depth[:4] = 0  # no return: compressedDepth keeps the zeros
    return rgb, thermal, depth


def _stamp_of(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _ready(harness, publishers, topic, node):
    assert harness.wait_for_subscribers(publishers, 90), f"node never subscribed:\n{node.output}"
    assert harness.wait_for_publishers([topic], 30), f"node never advertised {topic}:\n{node.output}"


def test_transport_parameters_are_checked(tmp_path):
    from rxssnet_ros.node_params import ParameterError, validate_values

    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"x")
    settings = validate_values({"checkpoint": str(checkpoint), "x_transport": "compressedDepth"})
    assert (settings.rgb_transport, settings.x_transport) == ("raw", "compressedDepth")
    with pytest.raises(ParameterError, match=r"rgb_transport.*compressedDepth carries depth images, not RGB"):
        validate_values({"checkpoint": str(checkpoint), "rgb_transport": "compressedDepth"})
    with pytest.raises(ParameterError, match="'theora' is not one of"):
        validate_values({"checkpoint": str(checkpoint), "x_transport": "theora"})


@pytest.mark.ros
@pytest.mark.slow
def test_jpeg_rgb_and_png_thermal_are_answered(graph):
    from sensor_msgs.msg import CompressedImage

    harness, node, _, segmenter, _ = graph
    rgb_pub = harness.publisher("/tr_a/cam/rgb/compressed", CompressedImage)
    x_pub = harness.publisher("/tr_a/cam/thermal/compressed", CompressedImage)
    labels = harness.collect("/tr_a/segment_node/labels")
    _ready(harness, [rgb_pub, x_pub], "/tr_a/segment_node/labels", node)
    sent = {}
    for k in range(PAIRS):
        stamp = next(_stamps)
        rgb, thermal, _ = _scene(k)
        rgb_msg = compressed_msg(rgb, "rgb8", "jpeg", stamp)
        x_msg = compressed_msg(thermal, "mono8", "png", stamp)
        x_pub.publish(x_msg)
        rgb_pub.publish(rgb_msg)
        sent[stamp] = (rgb_msg, thermal)
        assert labels.wait_for(lambda m, s=stamp: s in labels.by_stamp(), 30), \
            f"no labels for compressed pair {k}:\n{node.output[-3000:]}"
    with torch_threads(1):
        for stamp, (rgb_msg, thermal) in sent.items():
            jpeg_rgb, encoding = decode_compressed(rgb_msg)
            assert encoding == "bgr8"  # image_transport's JPEG carries BGR; the node reorders to RGB
            expected = segmenter.segment(np.ascontiguousarray(jpeg_rgb[:, :, ::-1]), thermal).labels
            np.testing.assert_array_equal(image_to_numpy(labels.by_stamp()[stamp]), expected)

    # A truncated JPEG: one line naming the topic, then the next pair is answered.
    stamp = next(_stamps)
    rgb, thermal, _ = _scene(99)
    bad = compressed_msg(rgb, "rgb8", "jpeg", stamp)
    bad.data = bytes(bad.data)[: len(bad.data) // 2]
    x_pub.publish(compressed_msg(thermal, "mono8", "png", stamp))
    rgb_pub.publish(bad)
    assert harness.wait_for_log("tr_a.segment_node", "no end marker", 20), node.output[-3000:]
    (line,) = harness.log_lines("tr_a.segment_node", "no end marker")
    assert "/tr_a/cam/rgb/compressed" in line and "truncated" in line, line
    stamp = next(_stamps)
    x_pub.publish(compressed_msg(thermal, "mono8", "png", stamp))
    rgb_pub.publish(compressed_msg(rgb, "rgb8", "jpeg", stamp))
    assert labels.wait_for(lambda m: stamp in labels.by_stamp(), 30), node.output[-3000:]


@pytest.mark.ros
@pytest.mark.slow
def test_raw_rgb_and_compressed_depth_are_answered(graph):
    from sensor_msgs.msg import CompressedImage, Image

    harness, _, node, _, segmenter = graph
    rgb_pub = harness.publisher("/tr_b/cam/rgb", Image)
    x_pub = harness.publisher("/tr_b/cam/depth/compressedDepth", CompressedImage)
    labels = harness.collect("/tr_b/segment_node/labels")
    _ready(harness, [rgb_pub, x_pub], "/tr_b/segment_node/labels", node)
    sent = {}
    for k in range(PAIRS):
        stamp = next(_stamps)
        rgb, _, depth = _scene(10 + k)
        x_pub.publish(compressed_msg(depth, "16UC1", "compressedDepth", stamp))
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        sent[stamp] = (rgb, depth)
        assert labels.wait_for(lambda m, s=stamp: s in labels.by_stamp(), 30), \
            f"no labels for compressedDepth pair {k}:\n{node.output[-3000:]}"
    with torch_threads(1):
        for stamp, (rgb, depth) in sent.items():
            # compressedDepth 16UC1 is lossless: the node segments exactly the depth that was sent.
            expected = segmenter.segment(rgb, depth).labels
            np.testing.assert_array_equal(image_to_numpy(labels.by_stamp()[stamp]), expected)
        rgb0, depth0 = next(iter(sent.values()))
        assert not np.array_equal(segmenter.segment(rgb0, depth0).labels,
                                  segmenter.segment(rgb0, np.zeros_like(depth0)).labels), "depth must matter"
    assert all(_stamp_of(m) in sent for m in labels.messages)
