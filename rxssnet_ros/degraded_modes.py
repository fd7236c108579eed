# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node's degraded modes: which mode the node serves when a camera fails, and how it says so.

With `detect_input_failures`, `rxssnet_core.input_health` watches each camera (silent, frozen, blank/saturated,
non-finite) with hysteresis; the node then runs fused, rgb_only (neutral X, `x_missing_policy`), x_only (black
RGB, `rgb_missing_policy`; the X images drive the output) or none, announces every switch once (log, the latched
`~/mode` topic, /diagnostics WARN with the cause) and returns to fused when the input recovers. Without
detection only a silent X (longer than `x_timeout`) switches the mode.

The state is `node_state.NodeHealth` (monitors, mode); these functions are handed what they read and write.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from rxssnet_ros import node_params
from rxssnet_ros.image_conversion import message_image_size, rgb_from_image, x_from_image
from rxssnet_ros.image_encodings import ImageConversionError
from rxssnet_ros.node_state import NodeHealth, NodeInputs, NodeTiming


def observe(stream: str, msg: Image, stamp: int, health: NodeHealth, inputs: NodeInputs) -> np.ndarray | None:
    """Feed one admitted image to its input's monitor (detect_input_failures) and remember the RGB geometry;
    returns its pixels (None without a monitor or when it cannot be decoded).
    """
    if stream not in health.monitors:
        return None
    try:
        array = rgb_from_image(msg, stream) if stream == "rgb" else x_from_image(msg, stream)
    except ImageConversionError:
        array = None  # the worker reports the bad message; its arrival still counts
    health.observe(stream, array, stamp, time.monotonic())
    if stream == "rgb":
        size = message_image_size(msg, array)
        if size is not None:
            inputs.rgb_geometry = (size, msg.header.frame_id)
    return array


def check_mode(settings: node_params.NodeSettings, health: NodeHealth, timing: NodeTiming, x_topic: str,
               logger: Any) -> bool:
    """Timer: detect silence and announce a mode change once (log); True when it changed (~/mode follows)."""
    if not (timing.meters["rgb"].count or timing.meters["x"].count):
        return False  # nothing has arrived yet: nothing to serve, and input_timeout explains silent inputs
    now = time.monotonic()
    causes = health.update(now)
    mode = health.serving_mode(settings, timing.x_silent(settings.x_timeout))
    if not health.monitors and mode != "fused":  # without detection only a silent X switches: say what follows
        action = ("segmenting RGB only with a neutral X" if mode == "rgb_only" else
                  "RGB frames are dropped (x_missing_policy: drop)")
        causes = [f"X stream {x_topic} silent for {timing.meters['x'].silent_for(now):.1f} s "
                  f"(x_timeout {settings.x_timeout} s): {action}"]
    if mode == health.mode:
        return False
    previous = health.switch(mode, "; ".join(causes))
    if mode == "fused":
        logger.info(f"mode {previous} -> fused: both inputs healthy again")
    else:
        logger.warning(f"mode {previous} -> {mode}: {health.mode_cause}")
    return True
