# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one rule that fits a camera image of any size into the network's input size, and back: letterbox.

    box = letterbox((720, 1280), (480, 640))   # image (H, W), network (H, W)
    box.scale == 0.5, box.content == (360, 640): the image, scaled by 0.5, fills the top-left 360x640 of the
    480x640 network input; the rest (rows 360..479) is padding at the normalisation mean (0 in network space).
    labels_for_image(network_labels, box)      # -> (720, 1280): the content region, resized back (nearest)

Why letterbox (keep the aspect ratio, scale the whole image to fit, pad the rest) rather than resizing the short
side and cropping: every camera pixel gets a label (a crop leaves the image's edges unlabelled, and those are
often where obstacles enter), and the network sees the scene undistorted at the scale it was trained at (a
plain resize squeezes a 16:9 image into 4:3). The padding sits bottom/right, so the content's pixel grid is the
camera's grid scaled by `scale` (no offset): scaling K and P is all a camera_info for network-size labels needs.

The `Segmenter` (`rxssnet_core.inference`) applies it for every backend, so the node, `rxssnet bag eval`,
`rxssnet eval/predict` and INT8 calibration feed the network identically at any `input_size`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# The network size when a checkpoint does not say what it was trained at (MFNet and most robot cameras: 640x480).
DEFAULT_INPUT_SIZE = (480, 640)
# `Segmenter`'s input_size for "the size the checkpoint was trained at" (the node's default).
TRAINED = "trained"
# Checkpoint metadata key of the (H, W) a model was trained at (the training crop), written by the Trainer.
TRAINED_SIZE_KEY = "input_size"


@dataclass(frozen=True)
class Letterbox:
    """Where an image of `image` (H, W) lands in a network input of `network` (H, W)."""

    image: tuple[int, int]
    network: tuple[int, int]
    scale: float
    content: tuple[int, int]  # (H, W) of the scaled image, top-left in the network input

    @property
    def identity(self) -> bool:
        """The image is the network's size: nothing to resize, pad or crop."""
        return self.image == self.network

    @property
    def padded(self) -> bool:
        return self.content != self.network


def letterbox(image_size: Sequence[int], network_size: Sequence[int]) -> Letterbox:
    """The letterbox of an image of `image_size` (H, W) in a network input of `network_size` (H, W)."""
    height, width = int(image_size[0]), int(image_size[1])
    net_h, net_w = int(network_size[0]), int(network_size[1])
    if min(height, width, net_h, net_w) < 1:
        raise ValueError(f"letterbox of a {width}x{height} image into {net_w}x{net_h}: sizes must be positive")
    scale = min(net_h / height, net_w / width)
    content = (min(net_h, max(1, round(height * scale))), min(net_w, max(1, round(width * scale))))
    return Letterbox((height, width), (net_h, net_w), scale, content)


def resize_hwc(image: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """(H, W[, C]) any OpenCV dtype -> (size[0], size[1][, C]); the same array when the size already matches."""
    if image.shape[:2] == tuple(size):
        return image
    resized = cv2.resize(np.ascontiguousarray(image), (size[1], size[0]), interpolation=interpolation)
    if image.ndim == 3 and resized.ndim == 2:  # OpenCV drops a single channel axis
        resized = resized[:, :, None]
    return resized


def content_of(network_output: np.ndarray, box: Letterbox) -> np.ndarray:
    """(..., H, W) network-size output -> (..., h, w): the image's region (what `output_resolution: network`
    publishes), a view.
    """
    return network_output[..., :box.content[0], :box.content[1]]


def labels_for_image(labels: np.ndarray, box: Letterbox, confidence: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Network-size labels (H, W) [and confidence] -> the image's size: content region, resized (labels nearest,
    confidence bilinear).
    """
    labels, confidence = content_of(labels, box), None if confidence is None else content_of(confidence, box)
    dsize = box.image
    labels = resize_hwc(labels, dsize, cv2.INTER_NEAREST)
    if confidence is not None:
        confidence = resize_hwc(confidence, dsize, cv2.INTER_LINEAR)
    return np.ascontiguousarray(labels), None if confidence is None else np.ascontiguousarray(confidence)


def scaled_intrinsics(k: Sequence[float], p: Sequence[float], scale: float) -> tuple[list[float], list[float]]:
    """K (3x3) and P (3x4), row-major, of a camera whose images are resized by `scale` about the pixel grid's
    origin (what the letterbox's content is): fx, fy, cx, cy and the Tx, Ty terms scale, the rest stays.
    """
    k_out = [float(v) for v in k]
    p_out = [float(v) for v in p]
    if len(k_out) == 9:
        for i in (0, 1, 2, 3, 4, 5):
            k_out[i] *= scale
    if len(p_out) == 12:
        for i in (0, 1, 2, 3, 4, 5, 6, 7):
            p_out[i] *= scale
    return k_out, p_out


def trained_input_size(metadata: dict[str, Any] | None) -> tuple[int, int]:
    """The (H, W) a checkpoint was trained at (its metadata's "input_size"), else DEFAULT_INPUT_SIZE."""
    recorded = (metadata or {}).get(TRAINED_SIZE_KEY)
    try:
        height, width = (int(v) for v in recorded)  # type: ignore[union-attr]  # None or a scalar: caught below
    except (TypeError, ValueError):
        return DEFAULT_INPUT_SIZE
    return (height, width) if height > 0 and width > 0 else DEFAULT_INPUT_SIZE
