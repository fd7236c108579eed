# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Time that jumps back, in a real graph: one bag played twice (with /clock, as `ros2 bag play --clock --loop`)
into two running nodes, one on wall time (the header stamps go back) and one with use_sim_time:=true (the /clock
loops back too). Both must answer both plays, with failure detection on, and say so in ONE log line per jump."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, ros_child_env

from rxssnet_ros.bag_player import main as bag_player_main
from rxssnet_ros.bag_player import play_bag, wait_for_acknowledgements
from rxssnet_ros.bag_tools.bag_writer import BagWriter
from rxssnet_ros.ros_time import stamp_ns

pytestmark = [pytest.mark.ros]

H, W = 48, 64
FRAMES, PERIOD_NS = 16, 100_000_000  # 1.6 s of 10 Hz: each new play goes back 1.5 s (> time_jump_threshold 1 s)
START_NS = 1_700_000_000 * 1_000_000_000
JUMP_LINE = "time jumped back"


def _bag(path: Path) -> Path:
    rng = np.random.default_rng(3)
    with BagWriter(path) as writer:
        for index in range(FRAMES):
            stamp = START_NS + index * PERIOD_NS
            writer.write_image("/rig/rgb", rng.integers(0, 256, (H, W, 3), np.uint8), "rgb8", stamp, "rgb")
            writer.write_image("/rig/x", rng.integers(0, 256, (H, W), np.uint8), "mono8", stamp + 1_000_000, "x")
    return path


def test_a_bag_played_twice_keeps_the_labels_coming_on_wall_and_sim_time(tiny_checkpoint, tmp_path) -> None:
    bag = _bag(tmp_path / "loop")
    env = ros_child_env()
    common = {"checkpoint": str(tiny_checkpoint), "input_qos": "reliable", "detect_input_failures": True,
              "log_throttle_period": 60.0, "rgb_timeout": 5.0, "x_timeout": 5.0}
    remaps = {"~/rgb/image": "/rig/rgb", "~/x/image": "/rig/x"}
    nodes = {"wall": NodeProcess(common, env, namespace="/wall", remaps=remaps),
             "sim": NodeProcess({**common, "use_sim_time": True}, env, namespace="/sim", remaps=remaps)}
    harness = Harness("time_jump_harness")
    try:
        labels = {name: harness.collect(f"/{name}/segment_node/labels") for name in nodes}
        for name, node in nodes.items():
            assert node.wait_for_line("segmenting", 90), f"{name} node did not start:\n{node.output}"
        assert harness.wait_for_publishers([f"/{name}/segment_node/labels" for name in nodes], 30)
        time.sleep(1.0)
        plays = []
        for play in range(2):  # two plays, as --loop gives them: stamps and /clock go back to the bag's start
            stats = play_bag(harness.node, bag, clock_hz=40.0, wait_for_subscribers_s=10.0 if play == 0 else 0.0,
                             require_subscriber=play == 0)
            assert stats.published == {"/rig/rgb": FRAMES, "/rig/x": FRAMES}
            # both nodes' reliable readers acknowledge every message (what the command line waits for at its end)
            assert wait_for_acknowledgements(harness.node, ["/rig/rgb", "/rig/x"], 10.0) == []
            time.sleep(1.0)  # the last pairs and frames
            plays.append({name: len(collector.messages) for name, collector in labels.items()})
        for name, node in nodes.items():
            first, both = plays[0][name], plays[1][name]
            second = both - first
            assert first >= FRAMES // 2 and second >= FRAMES // 2, (
                f"{name}: {first} labels on the first play, {second} on the second\n{node.output[-3000:]}")
            stamps = sorted(stamp_ns(msg.header.stamp) for msg in labels[name].messages)
            assert stamps[0] >= START_NS and stamps[-1] < START_NS + FRAMES * PERIOD_NS
            jumps = [line for line in node.lines if JUMP_LINE in line]
            assert len(jumps) == 1, f"{name}: expected one line about the jump:\n{node.output[-3000:]}"
            assert "out_of_order" not in node.output and "frozen" not in node.output, node.output[-3000:]
        assert "clock" in next(line for line in nodes["sim"].lines if JUMP_LINE in line) or \
            "stamps" in next(line for line in nodes["sim"].lines if JUMP_LINE in line)
    finally:
        harness.close()
        for node in nodes.values():
            code = node.stop()
            assert code == 0, node.output[-3000:]


def test_bag_player_publishes_the_recorded_time_on_clock(tmp_path) -> None:
    from rosgraph_msgs.msg import Clock

    bag = _bag(tmp_path / "clock")
    harness = Harness("clock_harness")
    try:
        clock = harness.collect("/clock", Clock)
        time.sleep(0.5)  # our own subscription matches the player's /clock publisher
        play_bag(harness.node, bag, topics=["/rig/rgb"], clock_hz=40.0, plays=2)
        time.sleep(0.3)
        times = [stamp_ns(msg.clock) for msg in clock.messages]
        assert len(times) >= 2 * FRAMES
        assert min(times) == START_NS and max(times) == START_NS + (FRAMES - 1) * PERIOD_NS
        backward = [i for i in range(1, len(times)) if times[i] < times[i - 1]]
        assert len(backward) == 1  # the second play starts again from the bag's beginning
    finally:
        harness.close()


def test_bag_player_refuses_a_negative_ack_timeout(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bag_player_main(["some_bag", "--ack-timeout", "-1"])
    assert exit_info.value.code == 2
    assert "--ack-timeout at least 0" in capsys.readouterr().err
