# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The per-frame accounting of rxssnet_ros.benchmarks.node_latency (the benchmark itself prints tables)."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_ros.benchmarks.node_latency import per_frame_split
from rxssnet_ros.benchmarks.node_process import camera_schedule


def test_camera_schedule_is_two_free_running_cameras_in_send_order():
    schedule = camera_schedule(2.0, 30.0, 9.0, x_offset_ms=11.0, jitter_ms=4.0, seed=1)
    rgb = [t for t, which in schedule if which == "rgb"]
    x = [t for t, which in schedule if which == "x"]
    assert (len(rgb), len(x)) == (60, 18)
    assert [t for t, _ in schedule] == sorted(t for t, _ in schedule)
    assert np.allclose(np.diff(rgb), 1 / 30, atol=0.0081)  # +-4 ms on each of two frames
    assert np.allclose(np.array(x) - np.arange(18) / 9, 0.011, atol=0.0041)


def test_per_frame_split_subtracts_each_frames_own_waits_and_backend_time():
    sent = {1: 10.000, 2: 10.033, 3: 10.066}
    received = {1: 10.500, 2: 10.950}  # frame 3 never came back
    timings = {1: {"pair_wait_ms": 40.0, "queue_wait_ms": 0.0, "inference_ms": 450.0, "frame_ms": 454.0},
               2: {"pair_wait_ms": 7.0, "queue_wait_ms": 400.0, "inference_ms": 500.0, "frame_ms": 503.0},
               3: {"pair_wait_ms": 1.0, "queue_wait_ms": 0.0, "inference_ms": 1.0}}
    split = per_frame_split(sent, received, timings)
    assert split["latency"] == pytest.approx([500.0, 917.0])
    assert split["node_adds"] == pytest.approx([10.0, 10.0])
    # the pipeline's steps besides the backend (frame_ms - inference_ms), and the rest of what the node adds
    assert split["pipeline_steps"] == pytest.approx([4.0, 3.0])
    assert split["outside_pipeline"] == pytest.approx([6.0, 7.0])
    assert split["pair_wait"] == [40.0, 7.0] and split["queue_wait"] == [0.0, 400.0]
