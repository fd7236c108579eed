# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""One network size on every backend: the letterbox rule, what it feeds the network, what it gives back, and the
same 1280x720 labels from torch, ONNX Runtime and OpenVINO fp32 at one input_size; a model file built for another
size is refused with the fix."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, image_msg, make_stamp, ros_child_env
from sensor_msgs.msg import CameraInfo

from rxssnet_core.frame_pipeline import FramePipeline, FrameWants
from rxssnet_core.inference import Segmenter
from rxssnet_core.network_input import (
    DEFAULT_INPUT_SIZE,
    labels_for_image,
    letterbox,
    scaled_intrinsics,
    trained_input_size,
)
from rxssnet_core.preprocessing import InputBuffers, PreprocessConfig, normalize_rgb, prepare_inputs
from rxssnet_ros.node_frames import camera_info_with_header

CAMERA = (720, 1280)
NETWORK = (192, 256)  # 4:3 network for a 16:9 camera: the image fills 144x256, 48 rows are padding


def _pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 1280x720 RGB + 16-bit thermal pair with structure (blocks), not noise, so labels form regions."""
    blocks = rng.integers(0, 256, (9, 16, 3), np.uint8)
    rgb = np.kron(blocks, np.ones((80, 80, 1), np.uint8))
    thermal = np.kron(rng.integers(27000, 32000, (9, 16)), np.ones((80, 80))).astype(np.uint16)
    return rgb, thermal


def test_letterbox_keeps_the_aspect_ratio_and_pads_bottom_right() -> None:
    box = letterbox(CAMERA, (480, 640))
    assert box.scale == 0.5 and box.content == (360, 640) and box.padded
    assert letterbox((512, 640), (480, 640)).content == (480, 600)
    assert letterbox((480, 640), (480, 640)).identity
    labels = np.zeros((480, 640), np.uint8)
    labels[:360, 320:] = 3
    labels[360:] = 7  # padding: never reaches the image
    back, _ = labels_for_image(labels, box)
    assert back.shape == CAMERA and set(np.unique(back)) == {0, 3}
    assert (back[:, 640:] == 3).all() and (back[:, :640] == 0).all()


def test_network_input_is_the_resized_image_then_mean_padding() -> None:
    config = PreprocessConfig(modality="thermal")
    rgb, thermal = _pair(np.random.default_rng(1))
    rgb_chw, x_chw = prepare_inputs(rgb, thermal, config, NETWORK)
    assert rgb_chw.shape == (3, *NETWORK) and x_chw.shape[1:] == NETWORK
    assert not rgb_chw[:, 144:].any() and not x_chw[:, 144:].any()  # the normalisation mean
    # the content is the image resized as 8-bit, then normalised (resize before the float conversion)
    import cv2

    expected = normalize_rgb(cv2.resize(rgb, (256, 144), interpolation=cv2.INTER_LINEAR), config)
    np.testing.assert_array_equal(rgb_chw[:, :144], expected)
    same_rgb, _ = prepare_inputs(rgb, thermal, config, None)
    assert same_rgb.shape == (3, *CAMERA)


@pytest.mark.parametrize("modality", ["thermal", "depth"])
def test_reused_network_inputs_equal_fresh_ones_frame_after_frame(modality: str) -> None:
    """The node's frames go into the same two arrays (InputBuffers): after any sequence of camera sizes, X
    dtypes and missing X images each frame's input equals a freshly allocated one, padding included (a 16:9 frame
    after a 4:3 one, a 4:5 one after that: the last content must not survive as padding)."""
    config = PreprocessConfig(modality=modality)
    rng = np.random.default_rng(3)
    buffers = InputBuffers()
    x_dtype = np.uint16 if modality == "thermal" else np.float32
    for height, width, with_x in ((720, 1280, True), (240, 256, True), (300, 240, False), (300, 240, True),
                                  (720, 1280, False), (720, 1280, True)):
        rgb = rng.integers(0, 256, (height, width, 3), np.uint8)
        x = (rng.random((height, width)) * 5000 + 100).astype(x_dtype) if with_x else None
        if x is not None and modality == "depth":
            x[:8] = np.nan  # no measurement: the float path
        fresh = prepare_inputs(rgb, x, config, NETWORK)
        reused = prepare_inputs(rgb, x, config, NETWORK, buffers)
        for fresh_array, reused_array in zip(fresh, reused):
            assert reused_array.shape == fresh_array.shape
            np.testing.assert_array_equal(reused_array, fresh_array)
    again = prepare_inputs(rgb, x, config, NETWORK, buffers)
    assert again[0] is reused[0]  # the same memory: no frame-sized allocation per frame


def test_trained_size_comes_from_the_checkpoint_metadata() -> None:
    assert trained_input_size({"input_size": [360, 640]}) == (360, 640)
    assert trained_input_size({}) == DEFAULT_INPUT_SIZE == (480, 640)
    assert trained_input_size({"input_size": "junk"}) == DEFAULT_INPUT_SIZE


def test_network_size_camera_info_scales_k_and_p() -> None:
    info = CameraInfo(height=720, width=1280, k=[900.0, 0, 640, 0, 905, 360, 0, 0, 1],
                      p=[900.0, 0, 640, -45, 0, 905, 360, 0, 0, 0, 1, 0])
    k, p = scaled_intrinsics(info.k, info.p, 0.5)
    assert k == [450.0, 0, 320, 0, 452.5, 180, 0, 0, 1] and p[:8] == [450.0, 0, 320, -22.5, 0, 452.5, 180, 0]
    scaled = camera_info_with_header(info, info.header, 0.5, (360, 640))
    assert (scaled.height, scaled.width) == (360, 640) and list(scaled.k) == k


@pytest.fixture(scope="module")
def segmenters(tiny_checkpoint, tmp_path_factory) -> dict[str, Segmenter]:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    cache = tmp_path_factory.mktemp("model_cache")
    return {backend: Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, cache_dir=cache,
                                               input_size=NETWORK)
            for backend in ("torch", "onnxruntime", "openvino")}


def test_torch_onnxruntime_and_openvino_agree_on_a_1280x720_pair(segmenters, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rgb, thermal = _pair(np.random.default_rng(0))
    labels = {name: seg.segment(rgb, thermal).labels for name, seg in segmenters.items()}
    for name, got in labels.items():
        assert got.shape == CAMERA, name
        assert segmenters[name].backend.fixed_size in (None, NETWORK)
    assert len(np.unique(labels["torch"])) > 1  # a frame with several classes, not a constant answer
    for name in ("onnxruntime", "openvino"):
        agreement = float((labels[name] == labels["torch"]).mean())
        assert agreement >= 0.995, f"{name} agrees with torch on {agreement:.4%} of the labels"


def test_network_resolution_gives_the_images_region(segmenters) -> None:
    rgb, thermal = _pair(np.random.default_rng(2))
    pipeline = FramePipeline(segmenters["torch"])
    out = pipeline.run(rgb, thermal, wants=FrameWants(overlay=True, at_network_size=True))
    assert out.labels.shape == (144, 256) and out.overlay.shape == (144, 256, 3) and out.scale == 0.2
    full = pipeline.run(rgb, thermal).labels
    assert full.shape == CAMERA and (full[::5, ::5] == out.labels).mean() > 0.99


def test_a_model_file_of_another_size_is_refused_with_the_fix(segmenters, tiny_checkpoint) -> None:
    for backend in ("onnxruntime", "openvino"):
        path = segmenters[backend].backend.path
        with pytest.raises(ValueError, match=r"input_size=96x128 .*built for 192x256; set input_size:=192x256"):
            Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, onnx_path=path, input_size=(96, 128))


@pytest.mark.ros
def test_the_node_publishes_network_size_labels_with_a_matching_camera_info(tiny_checkpoint) -> None:
    """output_resolution network: a 320x180 camera at input_size 96x128 gives 128x72 labels and a camera_info whose
    K and P are the camera's scaled by 0.4, stamped like the labels."""
    node = NodeProcess({"checkpoint": str(tiny_checkpoint), "input_qos": "reliable", "input_size": "96x128",
                        "output_resolution": "network"}, ros_child_env(), namespace="/netres")
    harness = Harness("network_resolution_harness")
    base = "/netres/segment_node"
    try:
        rgb_pub, x_pub = harness.publisher(f"{base}/rgb/image"), harness.publisher(f"{base}/x/image")
        info_pub = harness.publisher(f"{base}/rgb/camera_info", CameraInfo)
        labels, infos = harness.collect(f"{base}/labels"), harness.collect(f"{base}/camera_info", CameraInfo)
        assert harness.wait_for_subscribers([rgb_pub, x_pub, info_pub], 90), node.output
        assert harness.wait_for_publishers([f"{base}/labels", f"{base}/camera_info"], 30), node.output
        time.sleep(0.5)
        rng = np.random.default_rng(4)
        info = CameraInfo(height=180, width=320, k=[250.0, 0, 160, 0, 250, 90, 0, 0, 1],
                          p=[250.0, 0, 160, 0, 0, 250, 90, 0, 0, 0, 1, 0], distortion_model="plumb_bob")
        for index in range(3):
            stamp = 1_700_000_000_000_000_000 + index * 100_000_000
            info.header.stamp = make_stamp(stamp)
            info_pub.publish(info)
            time.sleep(0.1)
            rgb_pub.publish(image_msg(rng.integers(0, 256, (180, 320, 3), np.uint8), "rgb8", stamp))
            x_pub.publish(image_msg(rng.integers(0, 256, (180, 320), np.uint8), "mono8", stamp))
            time.sleep(0.3)
        assert infos.wait_for(lambda msgs: len(msgs) >= 1, 30), node.output
        label = labels.messages[-1]
        assert (label.height, label.width) == (72, 128)
        scaled = next(msg for msg in infos.messages if msg.header.stamp == label.header.stamp)
        assert (scaled.height, scaled.width) == (72, 128)
        np.testing.assert_allclose(scaled.k, [100.0, 0, 64, 0, 100, 36, 0, 0, 1])
        np.testing.assert_allclose(scaled.p[:8], [100.0, 0, 64, 0, 0, 100, 36, 0])
        assert "input_size 96x128 (letterboxed), output_resolution network" in node.output
    finally:
        harness.close()
        assert node.stop() == 0, node.output


def test_network_inputs_benchmark_prints_a_row_per_camera_size(capsys) -> None:
    from rxssnet_ros.benchmarks import network_inputs

    assert network_inputs.main(["--sizes", "48x64", "90x160", "--network", "32x32", "--repeat", "2",
                                "--default-allocator"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| 64x48 |", "| 160x90 |"))]
    assert len(rows) == 2 and all(len(row.split("|")) == 8 for row in rows)
    with pytest.raises(SystemExit) as exit_info:
        network_inputs.main(["--sizes", "camera"])
    assert exit_info.value.code == 2
