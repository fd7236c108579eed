# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The node's live worth-labelling score is `rxssnet bag mine`'s score of the same pair (one function:
rxssnet_core.labelling_score.score_frame).

Three RGB-X pairs go to a running segment_node (publish_labelling_score: true) over DDS and, as a rosbag2, to
`mine_bag`; the `labelling` record of each ~/frame_timing message must equal that pair's row in scores.csv.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from ros_harness import image_msg, node_with_frame_timing, ros_child_env, torch_threads

from rxssnet_core import Segmenter
from rxssnet_ros.bag_tools.bag_writer import BagWriter
from rxssnet_ros.bag_tools.mining import MineConfig, mine_bag
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig

H, W = 48, 64
START_NS = 1_700_000_000 * 1_000_000_000
FRAMES = 3
TERMS = ("score", "uncertainty", "low_confidence", "disagreement", "rarity")


def _pairs() -> list[tuple[int, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(25)
    return [(START_NS + k * 200_000_000, rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
             rng.integers(0, 256, (H, W), dtype=np.uint8)) for k in range(FRAMES)]


def _live_scores(pairs: list[tuple[int, np.ndarray, np.ndarray]], checkpoint: Path) -> dict[int, dict]:
    params = {"checkpoint": str(checkpoint), "input_qos": "reliable", "publish_labelling_score": True,
              "log_throttle_period": 60.0}
    with node_with_frame_timing(params, ros_child_env(), "/mine", "labelling_score_test_harness") as (
            node, rgb_pub, x_pub, timing):
        for count, (stamp, rgb, x) in enumerate(pairs, start=1):
            rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
            x_pub.publish(image_msg(x, "mono8", stamp))
            assert timing.wait_for(lambda msgs, n=count: len(msgs) >= n, 30), f"no output:\n{node.output[-3000:]}"
        records = [json.loads(msg.data) for msg in timing.messages]
        return {int(r["stamp_ns"]): r["labelling"] for r in records}


@pytest.mark.ros
@pytest.mark.slow
def test_live_score_equals_the_mining_score(tiny_checkpoint: Path, tmp_path: Path) -> None:
    pairs = _pairs()
    live = _live_scores(pairs, tiny_checkpoint)
    assert sorted(live) == [stamp for stamp, _, _ in pairs]
    bag = tmp_path / "pairs"
    with BagWriter(bag) as writer:
        for stamp, rgb, x in pairs:
            writer.write_image("/camera/rgb/image", rgb, "rgb8", stamp, "camera")
            writer.write_image("/camera/x/image", x, "mono8", stamp, "camera")
    with torch_threads(1):  # the node's thread count: bit-identical logits
        mine_bag(bag, Segmenter.from_checkpoint(tiny_checkpoint), tmp_path / "mined",
                 MineConfig(budget=1, min_gap_s=0), BagEvalConfig(labels=False, progress=False))
    rows = {int(r["rgb_stamp_ns"]): r for r in csv.DictReader((tmp_path / "mined" / "scores.csv").open())}
    assert sorted(rows) == sorted(live)
    for stamp, record in live.items():
        for term in TERMS:
            assert record[term] == pytest.approx(float(rows[stamp][term]), abs=2e-6), (stamp, term)
        assert record["class_shares"] == pytest.approx(
            [float(rows[stamp][key]) for key in rows[stamp] if key.startswith("share_")], abs=2e-6)
    # not a constant: the three random pairs score differently
    assert len({round(r["score"], 6) for r in live.values()}) == FRAMES
