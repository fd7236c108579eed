# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""One frame, from decoded arrays to everything a consumer publishes or scores: the only per-frame path.

    pipeline = FramePipeline(segmenter, aligner)            # aligner: XAligner or None (X already registered)
    out = pipeline.run(rgb, x, rgb_camera=info, x_camera=x_info, wants=FrameWants(colors=True))
    out.labels, out.confidence, out.colors, out.overlay, out.x_aligned, out.points, out.timing, out.notes

Stages, in order:
    validate   rgb (H, W, 3) uint8; x (h, w[, C]) uint8/uint16/float or None (RGB-only / degraded frame).
               A float X that is entirely NaN/inf is a `FrameProblem`; a partly invalid one is a note.
    register   `XAligner.align` puts X on the RGB pixel grid (none / resize / homography / depth); missing
               calibration, a bad extrinsic or a size mismatch is a `FrameProblem` naming the fix.
    segment    `Segmenter.segment` (preprocessing of the checkpoint, any backend) -> labels (H, W) and the
               max-softmax confidence (H, W) float32 when asked.
    render     colours (H, W, 3) uint8, overlay (H, W, 3) uint8 and a labelled point cloud (N,) structured array
               for a depth X, each computed only when asked for.

The ROS node, `rxssnet bag eval` and users' scripts call `run`; they differ only in where the arrays come from
and where the results go. Problems are typed (`FrameProblem.cause` is a short stable key for counters and
throttled logs; the message names the input and the fix), never ad-hoc strings.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import AlignmentError, CameraModel
from rxssnet_core.errors import RXSSNetError
from rxssnet_core.network_input import labels_for_image, letterbox, resize_hwc
from rxssnet_core.pointcloud import labeled_points
from rxssnet_core.visualization import colorize, overlay


class FrameProblem(RXSSNetError, ValueError):  # noqa: N818 - a problem with the frame's input, not a library error
    """A frame that cannot be segmented. `cause` keys counters and throttled logs; the message says the fix."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class FrameWants:
    """Which optional outputs to compute (each costs time nobody may need)."""

    confidence: bool = False
    colors: bool = False
    overlay: bool = False
    points: bool = False
    shown_classes: Sequence[int] | None = None  # colours/overlay: other classes stay black / plain RGB
    overlay_alpha: float = 0.5
    points_stride: int = 1
    # labels (and colours, overlay, confidence) at the network's size: the image's region of the letterboxed
    # network input (`rxssnet_core.network_input`), what `output_resolution: network` publishes
    at_network_size: bool = False


@dataclass
class FrameOutput:
    """Everything one frame gives. Arrays are at the RGB image's size (H, W), or scaled by `scale` with
    FrameWants.at_network_size (x_aligned and points stay at the image's size).
    """

    labels: np.ndarray  # (H, W) uint8, or uint16 past artifacts.MAX_UINT8_CLASSES classes
    confidence: np.ndarray | None = None  # (H, W) float32 max softmax probability
    colors: np.ndarray | None = None  # (H, W, 3) uint8
    overlay: np.ndarray | None = None  # (H, W, 3) uint8
    x_aligned: np.ndarray | None = None  # X registered to the RGB grid (what the network saw), or None
    points: np.ndarray | None = None  # labelled points (pointcloud.labeled_points), depth X only
    timing: dict[str, float] = field(default_factory=dict)  # align_ms, the Segmenter's *_ms, render_ms
    scale: float = 1.0  # labels' size / the RGB image's size (FrameWants.at_network_size: the letterbox scale)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (cause, message): served, but worth a log line


def nonfinite_fraction(array: np.ndarray) -> float:
    """Share of NaN/inf values in an array (0.0 for integer arrays, which cannot hold them)."""
    if array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        return 0.0
    return float(np.count_nonzero(~np.isfinite(array))) / array.size


def make_aligner(alignment: AlignmentConfig | None, preprocess_config: Any) -> XAligner | None:
    """The X-to-RGB registration for a model: the alignment settings with the checkpoint's own modality and
    depth scale (what X holds is the model's business, not the caller's). None: X arrives registered.
    """
    if alignment is None:
        return None
    return XAligner(dataclasses.replace(alignment, modality=preprocess_config.modality,
                                        depth_scale_m=float(preprocess_config.depth_scale_m)))


class FramePipeline:
    """validate -> register X -> segment -> render, for one RGB image and its X image.

    segmenter: `rxssnet_core.inference.Segmenter` (or anything with `segment`, `network_size`, `num_classes`, `palette`,
    `preprocess_config`). aligner: `XAligner`, or None when X arrives registered to the RGB image.
    """

    def __init__(self, segmenter: Any, aligner: XAligner | None = None) -> None:
        self.segmenter = segmenter
        self.aligner = aligner
        self.depth_scale_m = float(segmenter.preprocess_config.depth_scale_m)
        self.modality = segmenter.preprocess_config.modality

    @property
    def needs_camera_info(self) -> bool:
        """Whether `run` needs both cameras' models (homography from calibration, depth registration)."""
        return self.aligner is not None and self.aligner.needs_camera_info

    def register_x(self, x: np.ndarray, rgb_shape: tuple[int, int], rgb_camera: CameraModel | Any | None = None,
                   x_camera: CameraModel | Any | None = None, notes: list[tuple[str, str]] | None = None
                   ) -> np.ndarray:
        """Validate X and put it on the RGB pixel grid: (h, w[, C]) -> (H, W[, C]). Raises FrameProblem."""
        invalid = nonfinite_fraction(x)
        if invalid >= 1.0:
            raise FrameProblem("all_nonfinite", "X image: every pixel is NaN or inf, nothing to segment with "
                                                "(check the camera driver)")
        if invalid > 0.0 and notes is not None:
            notes.append(("nonfinite", f"X image: {invalid:.1%} of the pixels are NaN or inf; they count as 'no "
                                       "measurement' (0) for this frame"))
        if self.aligner is None:
            aligned = np.asarray(x)
        else:
            if self.aligner.needs_camera_info and (rgb_camera is None or x_camera is None):
                missing = " and ".join(name for name, camera in (("RGB", rgb_camera), ("X", x_camera))
                                       if camera is None)
                raise FrameProblem("no_camera_info", f"x_alignment={self.aligner.config.mode} needs both cameras' "
                                   f"calibration (CameraInfo), and none has arrived for the {missing} camera; "
                                   "publish it (~/rgb/camera_info, ~/x/camera_info) or record it in the bag")
            try:
                aligned = self.aligner.align(x, rgb_shape, rgb_camera if self.aligner.needs_camera_info else None,
                                             x_camera)
            except AlignmentError as error:
                raise FrameProblem("alignment", str(error)) from None
        if aligned.shape[:2] != tuple(rgb_shape):
            raise FrameProblem("size_mismatch", f"X image is {aligned.shape[1]}x{aligned.shape[0]} but RGB is "
                               f"{rgb_shape[1]}x{rgb_shape[0]} (width x height); set x_alignment to resize "
                               "(same field of view) or homography (different lens or mounting)")
        return aligned

    def run(self, rgb: np.ndarray, x: np.ndarray | None, rgb_camera: CameraModel | Any | None = None,
            x_camera: CameraModel | Any | None = None, wants: FrameWants | None = None) -> FrameOutput:
        """One frame. rgb (H, W, 3) uint8 RGB order; x raw X or None (segmented with a neutral X)."""
        wants = wants or FrameWants()
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            described = (f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__)
            raise FrameProblem("rgb_layout", f"RGB image must be (H, W, 3) uint8, got {described}")
        started = time.perf_counter()
        notes: list[tuple[str, str]] = []
        rgb_shape = (rgb.shape[0], rgb.shape[1])
        x_aligned = None if x is None else self.register_x(x, rgb_shape, rgb_camera, x_camera, notes)
        aligned = time.perf_counter()
        # labels at the network's size first: colours are rendered there (a palette lookup commutes with the
        # nearest-neighbour upsampling), then brought to the camera's size with the labels (labels_for_image)
        result = self.segmenter.segment(rgb, x_aligned, return_confidence=wants.confidence, at_network_size=True)
        segmented = time.perf_counter()
        output = FrameOutput(labels=result.labels, confidence=result.confidence, x_aligned=x_aligned, notes=notes,
                             scale=result.scale)
        palette = self.segmenter.palette
        if wants.colors or wants.overlay:
            output.colors = colorize(output.labels, palette, wants.shown_classes)
        if not wants.at_network_size and output.labels.shape != rgb_shape:
            box = letterbox(rgb_shape, self.segmenter.network_size(*rgb_shape))
            output.labels, output.confidence = labels_for_image(output.labels, box, output.confidence)
            if output.colors is not None:
                output.colors = resize_hwc(output.colors, rgb_shape, cv2.INTER_NEAREST)
            output.scale = 1.0
        if wants.overlay:
            shown_rgb = resize_hwc(rgb, output.labels.shape[:2])  # the labels' size (network size, or the image)
            output.overlay = overlay(shown_rgb, output.labels, palette, wants.overlay_alpha, wants.shown_classes,
                                     colors=output.colors)
        if wants.points and output.labels.shape[:2] == rgb_shape:
            output.points = self._points(rgb, x_aligned, output.labels, rgb_camera, wants.points_stride, notes)
        done = time.perf_counter()
        output.timing = {"align_ms": (aligned - started) * 1e3, **result.timing,
                         "render_ms": (done - segmented) * 1e3, "frame_ms": (done - started) * 1e3}
        return output

    def _points(self, rgb: np.ndarray, depth: np.ndarray | None, labels: np.ndarray, rgb_camera: Any, stride: int,
                notes: list[tuple[str, str]]) -> np.ndarray | None:
        if depth is None or self.modality != "depth":
            return None
        if rgb_camera is None:
            notes.append(("no_rgb_camera_info", "points need the RGB camera's intrinsics (CameraInfo); none has "
                                                "arrived yet"))
            return None
        try:
            camera = rgb_camera if isinstance(rgb_camera, CameraModel) else \
                CameraModel.from_camera_info(rgb_camera, name="rgb camera_info")
            return labeled_points(depth[:, :, 0] if depth.ndim == 3 else depth, labels, rgb, camera, stride,
                                  depth_scale_m=self.depth_scale_m)
        except ValueError as error:  # AlignmentError, PointCloudError: they name the bad input
            notes.append(("pointcloud", f"points not computed: {error}"))
            return None
