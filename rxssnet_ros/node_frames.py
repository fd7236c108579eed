# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What one frame carries through segment_node, and what the node reports about it.

`Job`: one RGB-X pair from the pairing rule to the worker (with the times that split its latency); `frame_timing`:
the ~/frame_timing record of an output; the encodings and headers of what the node republishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo

from rxssnet_core.frame_pipeline import FrameOutput
from rxssnet_core.network_input import scaled_intrinsics
from rxssnet_ros.ros_time import stamp_ns


@dataclass
class Job:
    """One pair on its way through the worker."""

    rgb: Any  # the RGB Image message; in mode x_only the black RGB array (missing_rgb) the X images drive
    x: Any = None
    x_info: Any = None
    degraded: bool = False
    received: float = field(default_factory=time.monotonic)  # when the pair was formed
    mode: str = "fused"
    header: Any = None  # the output header in mode x_only (the X image's stamp, the RGB camera's frame)
    rgb_arrival: float | None = None  # when the RGB message was admitted (pairing wait = received - this)
    started: float | None = None  # when the worker took it (queue wait = started - received)
    labelling: dict[str, Any] | None = None  # labelling_score.PairScore.to_dict() (publish_labelling_score)


def frame_timing(job: Job, output: FrameOutput, header: Any) -> dict[str, Any]:
    """What ~/frame_timing says about one output (milliseconds): where the frame's time went inside the node.

    pair_wait: RGB admitted -> pair formed (waiting for the X image); queue_wait: pair formed -> worker takes it
    (the previous frame still running); the pipeline's own steps (align, preprocess, inference = the backend call,
    postprocess, render); node_total: RGB admitted -> published; labelling: the worth-labelling score (only with
    publish_labelling_score). A benchmark subtracts `inference_ms` of the
    same frame from its publish -> receive time to get what the node adds.
    """
    now = time.monotonic()
    arrival = job.rgb_arrival if job.rgb_arrival is not None else job.received
    started = job.started if job.started is not None else job.received
    timing: dict[str, Any] = {"stamp_ns": stamp_ns(header.stamp),
              "x_stamp_ns": stamp_ns(job.x.header.stamp) if getattr(job.x, "header", None) is not None else None,
              "mode": job.mode, "pair_wait_ms": (job.received - arrival) * 1e3,
              "queue_wait_ms": (started - job.received) * 1e3, "node_total_ms": (now - arrival) * 1e3}
    timing.update({key: float(value) for key, value in output.timing.items()})
    if job.labelling is not None:
        timing["labelling"] = job.labelling
    return timing


def encoding_for_x(array: np.ndarray) -> str:
    """The Image encoding that carries a registered X array unchanged (for ~/x_aligned)."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    base = {np.dtype(np.uint8): "8U", np.dtype(np.uint16): "16U", np.dtype(np.int16): "16S",
            np.dtype(np.float32): "32F", np.dtype(np.float64): "64F"}[array.dtype]
    return f"{base}C{channels}"


def camera_info_with_header(info: CameraInfo, header: Any, scale: float = 1.0,
                            size: tuple[int, int] | None = None) -> CameraInfo:
    """A copy of `info` stamped with `header` (the cached message is shared with the executor thread); with
    `scale`, for images resized by it to `size` (H, W): K and P scaled (`output_resolution: network`).
    """
    k, p = (info.k, info.p) if scale == 1.0 else scaled_intrinsics(info.k, info.p, scale)
    height, width = size if size is not None else (info.height, info.width)
    return CameraInfo(header=header, height=int(height), width=int(width), distortion_model=info.distortion_model,
                      d=info.d, k=k, r=info.r, p=p, binning_x=info.binning_x, binning_y=info.binning_y,
                      roi=info.roi)
