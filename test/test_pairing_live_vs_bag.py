# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one pairing rule, live and offline: the same jittered camera streams (RGB 30 Hz, X 9 Hz with an offset and
jitter, as two free-running cameras) go to a running segment_node over DDS and, as a rosbag2, to
`rxssnet bag eval`; both must form exactly the same (RGB stamp, X stamp) pairs.

The node says which X image each output came from on `~/frame_timing`; bag eval writes it to frames.csv.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from ros_harness import image_msg, node_with_frame_timing, ros_child_env

from rxssnet_ros.bag_tools.bag_writer import BagWriter
from rxssnet_ros.benchmarks.node_process import camera_schedule
from rxssnet_ros.cli import main as rxssnet_main

H, W = 48, 64
START_NS = 1_700_000_000 * 1_000_000_000
# The pairing rule's parameters, given to both sides explicitly (bag eval's defaults are the node's too).
SLOP_S, QUEUE_SIZE, LOWER_BOUND_S = 0.05, 10, 0.0
# Between two messages on the wire: the node's worker keeps only the newest waiting pair, so pairs must not
# come faster than the tiny network segments them (~10 ms at 48x64), or the node would skip some on purpose.
SEND_GAP_S = 0.04


def _streams(seconds: float = 3.0) -> list[tuple[int, str, np.ndarray]]:
    """(stamp ns, camera, image) in send order; every image differs (a frozen camera would switch the mode)."""
    rng = np.random.default_rng(7)
    schedule = camera_schedule(seconds, 30.0, 9.0, x_offset_ms=11.0, jitter_ms=4.0, seed=5)
    return [(START_NS + round(offset * 1e9), which,
             rng.integers(0, 256, (H, W, 3) if which == "rgb" else (H, W), dtype=np.uint8))
            for offset, which in schedule]


def _bag_pairs(streams: list[tuple[int, str, np.ndarray]], checkpoint: Path, tmp_path: Path
               ) -> list[tuple[int, int]]:
    bag = tmp_path / "streams"
    with BagWriter(bag) as writer:
        for stamp, which, image in streams:
            if which == "rgb":
                writer.write_image("/camera/rgb/image", image, "rgb8", stamp, "camera_rgb_optical_frame")
            else:
                writer.write_image("/camera/x/image", image, "mono8", stamp, "camera_x_optical_frame")
    out = tmp_path / "bag_eval"
    code = rxssnet_main(["bag", "eval", str(bag), "--checkpoint", str(checkpoint), "--no-labels", "--out", str(out),
                         "--slop", str(SLOP_S), "--queue-size", str(QUEUE_SIZE),
                         "--inter-message-lower-bound", str(LOWER_BOUND_S)])
    assert code == 0
    with (out / "frames.csv").open() as handle:
        return sorted((int(row["stamp_ns"]), int(row["x_stamp_ns"])) for row in csv.DictReader(handle))


def _live_pairs(streams: list[tuple[int, str, np.ndarray]], checkpoint: Path, env: dict[str, str]
                ) -> tuple[list[tuple[int, int]], str]:
    params = {"checkpoint": str(checkpoint), "input_qos": "reliable", "slop": SLOP_S, "queue_size": QUEUE_SIZE,
              "inter_message_lower_bound": LOWER_BOUND_S, "log_throttle_period": 60.0}
    with node_with_frame_timing(params, env, "/pairs", "pairing_test_harness") as (node, rgb_pub, x_pub, timing):
        for stamp, which, image in streams:
            if which == "rgb":
                rgb_pub.publish(image_msg(image, "rgb8", stamp, "camera_rgb_optical_frame"))
            else:
                x_pub.publish(image_msg(image, "mono8", stamp, "camera_x_optical_frame"))
            time.sleep(SEND_GAP_S)
        last_x = max(stamp for stamp, which, _ in streams if which == "x")
        # the last pairs leave the rule only when it is sure no better partner can come; wait for the output to
        # stop growing
        count = -1
        while count != len(timing.messages):
            count = len(timing.messages)
            timing.wait_for(lambda msgs, n=count: len(msgs) > n, 3.0)
        records = [json.loads(msg.data) for msg in timing.messages]
        assert all(r["x_stamp_ns"] <= last_x for r in records)
        return sorted((int(r["stamp_ns"]), int(r["x_stamp_ns"])) for r in records), node.output


@pytest.mark.ros
@pytest.mark.slow
def test_live_node_and_bag_eval_form_identical_pairs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    env = ros_child_env()
    streams = _streams()
    rgb_count = sum(which == "rgb" for _, which, _ in streams)
    x_count = len(streams) - rgb_count
    assert (rgb_count, x_count) == (90, 27)

    offline = _bag_pairs(streams, tiny_checkpoint, tmp_path)
    live, output = _live_pairs(streams, tiny_checkpoint, env)

    # The rule itself: nearly every X image finds a partner within the slop, and no image is used twice, so the
    # comparison below is about real pairs, not two empty lists.
    assert len(offline) >= x_count - 2
    assert all(abs(rgb - x) < SLOP_S * 1e9 for rgb, x in offline)
    assert len({x for _, x in offline}) == len({rgb for rgb, _ in offline}) == len(offline)
    assert live == offline, (f"live node: {len(live)} pairs, bag eval: {len(offline)}; only live "
                             f"{sorted(set(live) - set(offline))[:5]}, only offline "
                             f"{sorted(set(offline) - set(live))[:5]}\n{output[-3000:]}")
    # Where message_filters is installed (every ROS install; `make test` installs it) the node's inputs are real
    # message_filters.Subscribers chained into the rule; without it, the built-in SubscriberFilter.
    try:
        import message_filters  # noqa: F401 - only asks whether it is installed
        expected = "subscribers: message_filters.Subscriber"
    except ImportError:
        expected = "subscribers: rxssnet_ros.synchronizer.SubscriberFilter"
    assert expected in output, output[-3000:]
