# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Time that jumps back: a bag played again, a simulator reset, a camera driver restarted.

Two signs, one reaction. A header stamp older than the previous one of its input by more than
`time_jump_threshold` seconds, or a backward jump of the node's clock by more than that under use_sim_time
(rclpy's clock jump callback: a looping /clock), resets what remembers the old time line: the pairing queues
and the stamp order of every input (`NodeInputs`), the input health clocks (`NodeHealth` monitors: a repeated
stamp would look frozen) and the tf buffer. The node logs ONE line naming the jump (the other sign of the same
jump, arriving within a second, resets silently; `NodeTiming.count_jump`) and keeps answering. Smaller steps back
are reorderings: those messages are dropped as out of order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.clock import Clock, JumpThreshold, TimeJump
from rclpy.duration import Duration

from rxssnet_ros import node_params
from rxssnet_ros.node_state import NodeHealth, NodeInputs, NodeTiming


def watch_clock_jumps(clock: Clock, threshold_s: float, on_jump: Callable[[str], None]) -> Any:
    """Call `on_jump(cause)` when `clock` jumps back by more than `threshold_s` (only a ROS (sim) time clock
    does); returns the handle to unregister.
    """
    def jumped(jump: TimeJump) -> None:
        on_jump(f"the node's clock (use_sim_time, /clock) jumped back by {-jump.delta.nanoseconds / 1e9:.3f} s")

    threshold = JumpThreshold(min_forward=None, min_backward=Duration(nanoseconds=-int(threshold_s * 1e9)),
                              on_clock_change=False)
    return clock.create_jump_callback(threshold, post_callback=jumped)


def stamp_jump(stamp: int, last: int, threshold_s: float, where: str) -> str | None:
    """The cause of a time jump when `stamp` < `last` (ns) by more than `threshold_s`, for the input named by
    `where` ("RGB image stamps on /cam/image"); None for a reordering (the caller drops that message).
    """
    if last - stamp <= threshold_s * 1e9:
        return None
    return f"{where} went back by {(last - stamp) / 1e9:.3f} s ({last / 1e9:.3f} s -> {stamp / 1e9:.3f} s)"


def reset_time_line(cause: str, settings: node_params.NodeSettings, inputs: NodeInputs, health: NodeHealth,
                    timing: NodeTiming, tf_buffer: Any, logger: Any) -> None:
    """Forget everything ordered by time (pairing queues, stamp order, health clocks, tf) and log one line."""
    inputs.forget_time_line()
    if health.monitors:
        health.restart_monitors(settings, time.monotonic())
    if tf_buffer is not None:
        tf_buffer.clear()
    if timing.count_jump(time.monotonic()):
        logger.warning(f"time jumped back: {cause} (a bag played again, a simulator reset or a restarted driver); "
                       "pairing queues, input health clocks and the tf buffer reset, segmenting on")
