# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node's degraded modes: which mode the node serves when a camera fails, and how it says so.

With `detect_input_failures`, `rxssnet_core.input_health` watches each camera (silent, frozen, blank/saturated,
non-finite) with hysteresis; the node then runs fused, rgb_only (neutral X, `x_missing_policy`), x_only (black
RGB, `rgb_missing_policy`; the X images drive the output) or none, announces every switch once (log, the latched
`~/mode` topic, /diagnostics WARN with the cause) and returns to fused when the input recovers. Without
detection only a silent X (longer than `x_timeout`) switches the mode.

A mixin of `segment_node.SegmentationMixin`: it reads the node's settings, meters and monitors.
"""

from __future__ import annotations

import json
import time

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import String

from rxssnet_core.input_health import degraded_mode, describe
from rxssnet_ros.image_conversion import message_image_size, rgb_from_image, x_from_image
from rxssnet_ros.image_encodings import ImageConversionError


class DegradedModesMixin:
    """Failure detection per input and the serving mode (fused | rgb_only | x_only | none)."""

    def _observe(self, stream: str, msg: Image, stamp: int) -> np.ndarray | None:
        """Feed one admitted image to its input's monitor (detect_input_failures); returns its pixels (None
        without a monitor or when it cannot be decoded).
        """
        monitor = self._monitors.get(stream)
        if monitor is None:
            return None
        try:
            array = rgb_from_image(msg, stream) if stream == "rgb" else x_from_image(msg, stream)
        except ImageConversionError:
            array = None  # the worker reports the bad message; its arrival still counts
        with self._health_lock:
            now = time.monotonic()
            if not self._inputs_started:
                # silence counts from the first message of either camera, not from activation: a bag or a
                # driver that starts later must not make the other camera "silent" by its first frame
                for each in self._monitors.values():
                    each.start(now)
                self._inputs_started = True
            monitor.observe(array, stamp, now)
        if stream == "rgb":
            size = message_image_size(msg, array)
            if size is not None:
                self._rgb_geometry = (size, msg.header.frame_id)
        return array

    def _failed(self, stream: str) -> bool:
        """Whether `stream` has failed: its monitor says so, or (without detection) X is silent."""
        monitor = self._monitors.get(stream)
        if monitor is not None:
            return not monitor.state.healthy
        return stream == "x" and self._x_silent()

    def _serving_mode(self) -> str:
        """Fused | rgb_only | x_only | none: what the inputs' health and the policies allow right now."""
        settings = self.settings
        if self._monitors:
            with self._health_lock:
                mode = degraded_mode(self._monitors["rgb"].state, self._monitors["x"].state)
        else:
            mode = "rgb_only" if self._x_silent() else "fused"
        if (mode == "rgb_only" and settings.x_missing_policy == "drop") or \
                (mode == "x_only" and settings.rgb_missing_policy == "drop"):
            return "none"
        return mode

    def _check_mode(self) -> None:
        """Timer: detect silence, and announce a mode change once (log, ~/mode)."""
        if not self._active or not (self._meters["rgb"].count or self._meters["x"].count):
            return  # nothing has arrived yet: nothing to serve, and input_timeout explains silent inputs
        now = time.monotonic()
        with self._health_lock:
            for monitor in self._monitors.values():
                monitor.update(now)
            causes = [describe(name, m.state) for name, m in self._monitors.items() if not m.state.healthy]
        mode = self._serving_mode()
        if not self._monitors and mode != "fused":  # without detection only a silent X switches: say what follows
            action = ("segmenting RGB only with a neutral X" if mode == "rgb_only" else
                      "RGB frames are dropped (x_missing_policy: drop)")
            causes = [f"X stream {self._topic('x')} silent for {self._meters['x'].silent_for(now):.1f} s "
                      f"(x_timeout {self.settings.x_timeout} s): {action}"]
        if mode == self._mode:
            return
        previous, self._mode, self._mode_cause = self._mode, mode, "; ".join(causes)
        self._mode_switches += 1
        if mode == "fused":
            self.get_logger().info(f"mode {previous} -> fused: both inputs healthy again")
        else:
            self.get_logger().warning(f"mode {previous} -> {mode}: {self._mode_cause}")
        self._publish_mode()

    def _publish_mode(self) -> None:
        publisher = self._pub.get("mode")
        if publisher is None:
            return
        with self._health_lock:
            health = {name: ("ok" if m.state.healthy else m.state.cause) for name, m in self._monitors.items()}
        publisher.publish(String(data=json.dumps({"mode": self._mode, "cause": self._mode_cause, **health})))
