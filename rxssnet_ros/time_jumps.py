# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Time that jumps back: a bag played again, a simulator reset, a camera driver restarted.

Two signs, one reaction. A header stamp older than the previous one of its input by more than
`time_jump_threshold` seconds, or a backward jump of the node's clock by more than that under use_sim_time
(rclpy's clock jump callback: a looping /clock), resets what remembers the old time line: the pairing queues
and the stamp order of every input, the input health clocks (`input_health` monitors: a repeated stamp would look
frozen) and the tf buffer. The node logs ONE line naming the jump (the other sign of the same jump, arriving
within a second, resets silently) and keeps answering. Smaller steps back are reorderings: those messages are
dropped as out of order, as before.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.clock import JumpThreshold, TimeJump
from rclpy.duration import Duration

from rxssnet_core.input_health import InputMonitor
from rxssnet_ros import node_params

# The two signs of one jump (stamps and /clock) arrive within this many seconds of each other: one log line.
SAME_JUMP_S = 2.0


class TimeJumpsMixin:
    """The segment node's reaction to time going back (`segment_node.SegmentationMixin`).

    Uses the node's `settings`, `_pairing`, `_last_stamp`, `_rgb_arrivals`, `_monitors`, `_health_lock`,
    `_tf_buffer` and `_report`.
    """

    time_jumps = 0
    _jump_handle: Any = None
    _last_jump_log = -1e9

    def _watch_clock_jumps(self) -> None:
        """Register the clock jump callback (activate); only a ROS (sim) time clock jumps back."""
        threshold = JumpThreshold(min_forward=None,
                                  min_backward=Duration(nanoseconds=-int(self.settings.time_jump_threshold * 1e9)),
                                  on_clock_change=False)
        self._jump_handle = self.get_clock().create_jump_callback(threshold, post_callback=self._on_clock_jump)

    def _unwatch_clock_jumps(self) -> None:
        if self._jump_handle is not None:
            self._jump_handle.unregister()
            self._jump_handle = None

    def _on_clock_jump(self, jump: TimeJump) -> None:
        self.reset_time_line(f"the node's clock (use_sim_time, /clock) jumped back by "
                             f"{-jump.delta.nanoseconds / 1e9:.3f} s")

    def _stamp_jumped_back(self, name: str, role: str, stamp: int, last: int) -> bool:
        """True when `stamp` < `last` is a jump (the time line is reset and the message is admitted); False for a
        reordering (the caller drops it).
        """
        if last - stamp <= self.settings.time_jump_threshold * 1e9:
            return False
        self.reset_time_line(f"{role} stamps on {self._topic(name)} went back by {(last - stamp) / 1e9:.3f} s "
                             f"({last / 1e9:.3f} s -> {stamp / 1e9:.3f} s)")
        return True

    def reset_time_line(self, cause: str) -> None:
        """Forget everything ordered by time (pairing queues, stamp order, health clocks, tf) and log one line."""
        if self._pairing is not None:
            self._pairing.pairer.reset()
        self._last_stamp.clear()
        self._rgb_arrivals.clear()
        if self._monitors:
            now = time.monotonic()
            with self._health_lock:
                for stream in list(self._monitors):
                    self._monitors[stream] = InputMonitor(stream, node_params.health_thresholds(self.settings,
                                                                                                 stream))
                    self._monitors[stream].start(now)
        if self._tf_buffer is not None:
            self._tf_buffer.clear()
        self.time_jumps += 1
        now = time.monotonic()
        if now - self._last_jump_log > SAME_JUMP_S:
            self.get_logger().warning(f"time jumped back: {cause} (a bag played again, a simulator reset or a "
                                      "restarted driver); pairing queues, input health clocks and the tf buffer "
                                      "reset, segmenting on")
        self._last_jump_log = now
