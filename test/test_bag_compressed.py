# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag convert --compress` and `rxssnet bag eval` on image_transport's CompressedImage topics.

The synthetic split of test_bag_eval is converted raw, PNG and JPEG: PNG is lossless, so its bag scores exactly
the raw bag's mIoU (and confusion matrix); JPEG (quality 95) changes pixels, and its mIoU stays within 5 points
of the raw one. A hand-written RGB-D bag with depth over compressedDepth (16UC1, lossless) scores exactly as the
same bag with raw depth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_bag_eval import FRAMES, build_offline_case, read_topic

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_writer import BagWriter
from rxssnet_ros.bag_tools.convert import x_compression_for
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, evaluate_bag
from rxssnet_ros.cli import main as rxssnet_main
from rxssnet_ros.compressed_image import decode_compressed
from rxssnet_ros.image_conversion import image_to_array

pytestmark = pytest.mark.slow
JPEG_MIOU_TOLERANCE = 0.05  # absolute mIoU; quality-95 JPEG moves a few edge pixels of the smooth scenes


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import torch

    case = build_offline_case(tmp_path_factory.getbasetemp() / "bag_eval_case")
    base = tmp_path_factory.mktemp("compressed")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as build_offline_case evaluated the raw bag: bit-identical logits
    try:
        for codec in ("png", "jpeg"):
            bag = base / f"bag_{codec}"
            assert rxssnet_main(["bag", "convert", "--dataset", "synthetic_fusion", "--root", case["root"],
                                 "--split", "test", "--out", str(bag), "--camera-info", "--jitter-ms", "5",
                                 "--compress", codec]) == 0
            assert rxssnet_main(["bag", "eval", str(bag), "--checkpoint", case["checkpoint"], "--out",
                                 str(base / f"eval_{codec}")]) == 0
            case[f"bag_{codec}"], case[f"eval_{codec}"] = str(bag), str(base / f"eval_{codec}")
    finally:
        torch.set_num_threads(previous)
    return case


def _topics(bag: str) -> dict[str, str]:
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def _metrics(folder: str) -> dict[str, Any]:
    return json.loads((Path(folder) / "metrics.json").read_text())


def test_converted_bags_hold_compressed_image_topics(case: dict[str, Any]) -> None:
    raw_rgb = [image_to_array(m) for m in read_topic(case["bag"], "/camera/rgb/image")]
    raw_x = [image_to_array(m) for m in read_topic(case["bag"], "/camera/x/image")]
    for codec in ("png", "jpeg"):
        rgb = read_topic(case[f"bag_{codec}"], "/camera/rgb/image/compressed")
        x = read_topic(case[f"bag_{codec}"], "/camera/x/image/compressed")
        assert len(rgb) == len(x) == FRAMES
        assert "/camera/rgb/image" not in _topics(case[f"bag_{codec}"])
        assert rgb[0].format == f"rgb8; {codec} compressed bgr8" and x[0].format == f"mono8; {codec} compressed mono8"
        decoded_rgb = [decode_compressed(m)[0][:, :, ::-1] for m in rgb]  # BGR as image_transport writes it
        decoded_x = [decode_compressed(m)[0] for m in x]
        same = all(np.array_equal(a, b) for a, b in zip(decoded_rgb + decoded_x, raw_rgb + raw_x))
        assert same == (codec == "png"), f"{codec}: PNG must be lossless and JPEG lossy"
        # The ground truth stays a raw Image, and camera_info stays next to the base topic.
        assert len(read_topic(case[f"bag_{codec}"], "/camera/labels_gt")) == FRAMES
        assert len(read_topic(case[f"bag_{codec}"], "/camera/rgb/camera_info")) == FRAMES


def test_png_scores_exactly_like_raw_and_jpeg_within_tolerance(case: dict[str, Any]) -> None:
    raw, png, jpeg = _metrics(case["bag_eval"]), _metrics(case["eval_png"]), _metrics(case["eval_jpeg"])
    assert png["bag_eval"]["counts"]["scored"] == jpeg["bag_eval"]["counts"]["scored"] == FRAMES
    assert png["miou"] == raw["miou"] and png["confusion_matrix"] == raw["confusion_matrix"]
    assert abs(jpeg["miou"] - raw["miou"]) <= JPEG_MIOU_TOLERANCE, (jpeg["miou"], raw["miou"])
    assert png["run"]["recording"]["topics"] == {"rgb": "/camera/rgb/image/compressed",
                                                      "x": "/camera/x/image/compressed"}


def test_x_codec_choice() -> None:
    assert x_compression_for(np.zeros((4, 4), np.uint16), "depth", "jpeg") == "compressedDepth"
    assert x_compression_for(np.zeros((4, 4), np.float32), "depth", "png") == "compressedDepth"
    assert x_compression_for(np.zeros((4, 4), np.uint8), "thermal", "jpeg") == "jpeg"
    assert x_compression_for(np.zeros((4, 4), np.uint16), "thermal", "jpeg") == "png"  # JPEG has no 16 bits
    with pytest.raises(BagError, match="convert without --compress"):
        x_compression_for(np.zeros((4, 4, 3), np.float32), "polarization", "png")


def _rgbd_bag(path: Path, depth_transport: str) -> None:
    """5 frames 48x64: raw rgb8, 16UC1 depth (raw or compressedDepth), mono8 ground truth."""
    rng = np.random.default_rng(3)
    with BagWriter(path) as bag:
        for index in range(5):
            stamp = 1_800_000_000 * 10**9 + index * 100_000_000
            rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            depth = rng.integers(400, 9000, (48, 64), dtype=np.uint16)
            depth[:, :5] = 0
            bag.write_image("/cam/rgb", rgb, "rgb8", stamp, "rgb")
            if depth_transport == "raw":
                bag.write_image("/cam/depth", depth, "16UC1", stamp, "depth")
            else:
                bag.write_compressed("/cam/depth/compressedDepth", depth, "16UC1", "compressedDepth", stamp, "depth")
            bag.write_image("/cam/gt", rng.integers(0, 5, (48, 64), dtype=np.uint8), "mono8", stamp, "rgb")


def test_compressed_depth_bag_scores_like_raw_depth(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from rxssnet_core import Segmenter, load_model, save_model
    from rxssnet_core.preprocessing import PreprocessConfig

    model = load_model(tiny_checkpoint)
    checkpoint = tmp_path / "depth.safetensors"
    depth = PreprocessConfig(modality="depth").to_dict()
    save_model(model, checkpoint, metadata={**model.metadata, "preprocess": depth})
    segmenter = Segmenter.from_checkpoint(checkpoint)
    results = {}
    for transport in ("raw", "compressedDepth"):
        _rgbd_bag(tmp_path / transport, transport)
        config = BagEvalConfig(rgb_topic="/cam/rgb", x_topic="/cam/depth", gt_topic="/cam/gt", progress=False)
        results[transport] = evaluate_bag(tmp_path / transport, segmenter, config)
    raw, compressed = results["raw"], results["compressedDepth"]
    assert compressed.counts["scored"] == raw.counts["scored"] == 5
    assert compressed.recording["topics"]["x"] == "/cam/depth/compressedDepth"
    assert np.asarray(compressed.metrics.confusion_matrix).tolist() == np.asarray(raw.metrics.confusion_matrix).tolist()
    assert len(compressed.issues) == 0, compressed.issues.texts()
