# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""rxssnet_core.frame_pipeline: the one per-frame path (validate -> register X -> segment -> render)."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import CameraModel
from rxssnet_core.frame_pipeline import FramePipeline, FrameProblem, FrameWants
from rxssnet_core.inference.artifacts import label_dtype

HEIGHT, WIDTH = 64, 96


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    from rxssnet_core.inference import Segmenter

    return Segmenter.from_checkpoint(tiny_checkpoint, backend="torch")


def _pair(seed: int = 0, x_shape: tuple[int, int] = (HEIGHT, WIDTH)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    x = rng.integers(0, 256, x_shape, dtype=np.uint8)
    return rgb, x


def test_label_dtype_keeps_255_free_for_ignore() -> None:
    # ids 0..254 in mono8; a 256th class would be id 255, which a label PNG read back as ground truth ignores
    assert label_dtype(2) == np.uint8 and label_dtype(255) == np.uint8
    assert label_dtype(256) == np.uint16 and label_dtype(1000) == np.uint16


def test_registered_pair_gives_the_segmenters_labels_and_only_the_outputs_asked_for(segmenter) -> None:
    rgb, x = _pair()
    plain = FramePipeline(segmenter).run(rgb, x)
    assert plain.labels.shape == (HEIGHT, WIDTH) and plain.labels.dtype == np.uint8
    assert plain.colors is None and plain.overlay is None and plain.confidence is None and plain.points is None
    assert np.array_equal(plain.labels, segmenter.segment(rgb, x).labels)
    assert {"align_ms", "total_ms", "render_ms", "frame_ms"} <= set(plain.timing)

    full = FramePipeline(segmenter).run(rgb, x, wants=FrameWants(confidence=True, colors=True, overlay=True))
    assert full.confidence.shape == (HEIGHT, WIDTH) and full.confidence.dtype == np.float32
    assert np.all((full.confidence > 0) & (full.confidence <= 1.0 + 1e-6))
    palette = np.asarray(segmenter.palette, dtype=np.uint8)
    assert np.array_equal(full.colors, palette[full.labels])  # every pixel has its class colour


def test_overlay_alpha_and_shown_classes(segmenter) -> None:
    rgb, x = _pair(1)
    transparent = FramePipeline(segmenter).run(rgb, x, wants=FrameWants(overlay=True, overlay_alpha=0.0))
    assert np.array_equal(transparent.overlay, rgb)
    hidden = FramePipeline(segmenter).run(rgb, x, wants=FrameWants(colors=True, overlay=True, shown_classes=[]))
    assert not hidden.colors.any()  # no class shown: a black mask
    assert np.array_equal(hidden.overlay, rgb)  # and the plain image under the overlay


def test_x_of_another_size_needs_an_alignment(segmenter) -> None:
    rgb, x = _pair(2, x_shape=(HEIGHT // 2, WIDTH // 2))
    with pytest.raises(FrameProblem) as problem:
        FramePipeline(segmenter).run(rgb, x)
    assert problem.value.cause == "size_mismatch" and "x_alignment" in str(problem.value)

    resized = FramePipeline(segmenter, XAligner(AlignmentConfig(mode="resize"))).run(rgb, x)
    assert resized.x_aligned.shape == (HEIGHT, WIDTH) and resized.labels.shape == (HEIGHT, WIDTH)


def test_calibrated_alignment_without_camera_info_is_a_problem_naming_the_topic(segmenter) -> None:
    rgb, x = _pair(3)
    aligner = XAligner(AlignmentConfig(mode="homography", extrinsic_rotation=np.eye(3).tolist(),
                                       extrinsic_translation=[0.05, 0.0, 0.0], plane_distance_m=5.0))
    pipeline = FramePipeline(segmenter, aligner)
    assert pipeline.needs_camera_info
    with pytest.raises(FrameProblem) as problem:
        pipeline.run(rgb, x)
    assert problem.value.cause == "no_camera_info" and "RGB and X camera" in str(problem.value)


def test_invalid_float_x(segmenter) -> None:
    rgb, _ = _pair(4)
    x = np.full((HEIGHT, WIDTH), np.nan, dtype=np.float32)
    with pytest.raises(FrameProblem) as problem:
        FramePipeline(segmenter).run(rgb, x)
    assert problem.value.cause == "all_nonfinite"

    x[:, : WIDTH // 4] = 30.0  # a quarter of the pixels measured
    served = FramePipeline(segmenter).run(rgb, x)
    assert served.labels.shape == (HEIGHT, WIDTH)
    assert [cause for cause, _ in served.notes] == ["nonfinite"] and "75.0%" in served.notes[0][1]


@pytest.mark.parametrize("bad", [np.zeros((HEIGHT, WIDTH), np.uint8), np.zeros((HEIGHT, WIDTH, 3), np.float32),
                                 "not an image"])
def test_rgb_of_the_wrong_layout_is_a_problem(segmenter, bad) -> None:
    with pytest.raises(FrameProblem) as problem:
        FramePipeline(segmenter).run(bad, None)
    assert problem.value.cause == "rgb_layout"


def test_missing_x_is_segmented_with_a_neutral_x(segmenter) -> None:
    rgb, _ = _pair(5)
    out = FramePipeline(segmenter).run(rgb, None)
    assert out.x_aligned is None and out.labels.shape == (HEIGHT, WIDTH)


def test_depth_frames_give_labelled_points_for_every_valid_pixel_on_the_stride_grid() -> None:
    import torch

    from rxssnet_core import ModelConfig, build_model
    from rxssnet_core.inference import Segmenter
    from rxssnet_core.preprocessing import PreprocessConfig

    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=3, decoder_dim=32)).eval()
    segmenter = Segmenter.from_model(model, metadata={"preprocess": PreprocessConfig(modality="depth").to_dict()})
    depth = np.full((HEIGHT, WIDTH), 2000, dtype=np.uint16)  # 2 m in millimetres
    depth[:, :10] = 0  # no measurement
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    camera = CameraModel(K=np.array([[80.0, 0, WIDTH / 2], [0, 80.0, HEIGHT / 2], [0, 0, 1]]),
                         width=WIDTH, height=HEIGHT)
    out = FramePipeline(segmenter).run(rgb, depth, rgb_camera=camera, wants=FrameWants(points=True,
                                                                                          points_stride=2))
    expected = np.count_nonzero(depth[::2, ::2])
    assert len(out.points) == expected
    assert np.allclose(out.points["z"], 2.0)
    assert np.array_equal(np.sort(np.unique(out.points["label"])), np.sort(np.unique(out.labels[::2, 10::2])))

    no_camera = FramePipeline(segmenter).run(rgb, depth, wants=FrameWants(points=True))
    assert no_camera.points is None and no_camera.notes[0][0] == "no_rgb_camera_info"
