# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The segment node's state: small objects with explicit fields that `segment_node` creates and composes.

    NodeInputs   subscriptions, pairing filter, stamp order, RGB arrivals, latest RGB camera_info and geometry
    NodeHealth   input monitors (detect_input_failures), their lock, the serving mode and its cause
    NodeOutputs  publishers, the display parameters (overlay_alpha, shown_classes), what the last output was
    NodeTiming   rate meters, latencies, time jumps (count, last log, the clock jump callback)
    ProblemLog   bad inputs counted per cause, logged once per throttle period

Each method touches only its object's fields and what it is handed; what combines them lives in `node_inputs`
(the input gates), `degraded_modes`, `node_health` and `time_jumps`. docs/ARCHITECTURE.md says who writes what.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rxssnet_core.input_health import InputMonitor, degraded_mode, describe
from rxssnet_ros import node_params
from rxssnet_ros.diagnostics import CauseCounter, LatencyStats, RateMeter, ThrottledLog
from rxssnet_ros.node_frames import Job
from rxssnet_ros.synchronizer import PairingFilter

# The two signs of one time jump (stamps and /clock) arrive within this many seconds of each other: one log line.
SAME_JUMP_S = 2.0
METERS = ("rgb", "x", "x_info", "rgb_info", "pairs", "outputs")


@dataclass
class NodeInputs:
    """The input side (executor thread): written by `node_inputs.InputGates`, reset by `time_jumps`."""

    subs: dict[str, Any] = field(default_factory=dict)  # created by activate, destroyed by deactivate
    pairing: PairingFilter | None = None
    last_stamp: dict[str, int] = field(default_factory=dict)  # input -> last admitted stamp (ns)
    rgb_arrivals: OrderedDict[int, float] = field(default_factory=OrderedDict)  # RGB stamp -> admitted (monotonic)
    rgb_info: Any = None  # the latest sensor_msgs/CameraInfo of the RGB camera
    rgb_geometry: tuple[tuple[int, int], str] | None = None  # last RGB (height, width), frame_id
    qos_problems: dict[str, tuple[float, str]] = field(default_factory=dict)  # input -> (when, explanation)

    def topic(self, name: str) -> str:
        """The resolved topic of input `name` (its name while not subscribed)."""
        sub = self.subs.get(name)
        return sub.topic_name if sub is not None else name

    def remember_arrival(self, stamp: int, now: float, keep: int) -> None:
        """Note when the RGB image stamped `stamp` was admitted; keep at most `keep` (what the pairing holds)."""
        self.rgb_arrivals[stamp] = now
        while len(self.rgb_arrivals) > keep:
            self.rgb_arrivals.popitem(last=False)

    def forget_time_line(self) -> None:
        """Drop everything ordered by time: the pairing queues, the stamp order, the arrivals."""
        if self.pairing is not None:
            self.pairing.pairer.reset()
        self.last_stamp.clear()
        self.rgb_arrivals.clear()

    def unsubscribed(self) -> None:
        """Forget the subscriptions and the pairing (deactivate has destroyed them)."""
        self.subs = {}
        self.pairing = None


@dataclass
class NodeHealth:
    """Input failure detection and the serving mode: written by the input gates (observe) and the mode timer."""

    monitors: dict[str, InputMonitor] = field(default_factory=dict)  # with detect_input_failures: "rgb", "x"
    lock: threading.Lock = field(default_factory=threading.Lock)  # monitors: executor and timer callbacks
    inputs_started: bool = False  # the silence clocks restart at the first message
    mode: str = "fused"
    mode_cause: str = ""
    mode_switches: int = 0

    def start(self, settings: node_params.NodeSettings, now: float) -> None:
        """Fresh monitors (when detect_input_failures) and mode fused (activate)."""
        self.monitors = {}
        self.inputs_started = False
        if settings.detect_input_failures:
            self.restart_monitors(settings, now)
        self.mode, self.mode_cause = "fused", ""

    def restart_monitors(self, settings: node_params.NodeSettings, now: float) -> None:
        """New monitors for the inputs watched, their clocks started at `now` (activate, a time jump)."""
        with self.lock:
            for stream in ("rgb", "x") if not self.monitors else list(self.monitors):
                self.monitors[stream] = InputMonitor(stream, node_params.health_thresholds(settings, stream))
                self.monitors[stream].start(now)

    def observe(self, stream: str, array: np.ndarray | None, stamp: int, now: float) -> None:
        """Feed one admitted image's pixels (None: undecodable) to its input's monitor."""
        monitor = self.monitors.get(stream)
        if monitor is None:
            return
        with self.lock:
            if not self.inputs_started:
                # silence counts from the first message of either camera, not from activation: a bag or a
                # driver that starts later must not make the other camera "silent" by its first frame
                for each in self.monitors.values():
                    each.start(now)
                self.inputs_started = True
            monitor.observe(array, stamp, now)

    def failed(self, stream: str, x_silent: bool) -> bool:
        """Whether `stream` has failed: its monitor says so, or (without detection) X is silent."""
        monitor = self.monitors.get(stream)
        if monitor is not None:
            return not monitor.state.healthy
        return stream == "x" and x_silent

    def serving_mode(self, settings: node_params.NodeSettings, x_silent: bool) -> str:
        """Fused | rgb_only | x_only | none: what the inputs' health and the policies allow right now."""
        if self.monitors:
            with self.lock:
                mode = degraded_mode(self.monitors["rgb"].state, self.monitors["x"].state)
        else:
            mode = "rgb_only" if x_silent else "fused"
        if (mode == "rgb_only" and settings.x_missing_policy == "drop") or \
                (mode == "x_only" and settings.rgb_missing_policy == "drop"):
            return "none"
        return mode

    def update(self, now: float) -> list[str]:
        """Let the monitors notice silence; the causes of the inputs that have failed."""
        with self.lock:
            for monitor in self.monitors.values():
                monitor.update(now)
            return [describe(name, m.state) for name, m in self.monitors.items() if not m.state.healthy]

    def switch(self, mode: str, cause: str) -> str:
        """Serve `mode` from now on; returns the previous mode."""
        previous, self.mode, self.mode_cause = self.mode, mode, cause
        self.mode_switches += 1
        return previous

    def mode_json(self) -> str:
        """What ~/mode carries: the mode, its cause and each watched input's state."""
        with self.lock:
            health = {name: ("ok" if m.state.healthy else m.state.cause) for name, m in self.monitors.items()}
        return json.dumps({"mode": self.mode, "cause": self.mode_cause, **health})

    def input_values(self) -> dict[str, str]:
        """Each watched input's state, for /diagnostics."""
        with self.lock:
            return {f"{name}_health": describe(name, m.state) for name, m in self.monitors.items()}


@dataclass
class NodeOutputs:
    """The output side (worker thread): publishers (activate creates them), the display parameters (configure and
    the parameter callback write them) and what the last output was (`segment_node._publish`).
    """

    pub: dict[str, Any] = field(default_factory=dict)
    overlay_alpha: float = 0.5
    shown_classes: list[int] | None = None
    degraded_outputs: int = 0
    last_output_degraded: bool = False
    last_output_mode: str = "fused"

    def wanted(self, name: str) -> bool:
        """Whether output `name` is enabled and subscribed: colours and overlays cost time nobody may need."""
        publisher = self.pub.get(name)
        return publisher is not None and publisher.get_subscription_count() > 0

    def published(self, job: Job) -> None:
        """Note the mode of the frame just published."""
        self.last_output_degraded = job.degraded
        self.last_output_mode = job.mode
        if job.degraded:
            self.degraded_outputs += 1


@dataclass
class NodeTiming:
    """Rates (the input gates and `_publish` tick them), latencies (`_publish`) and time jumps (`time_jumps`)."""

    meters: dict[str, RateMeter] = field(default_factory=lambda: {name: RateMeter() for name in METERS})
    latency: LatencyStats = field(default_factory=LatencyStats)  # RGB received -> published (ms)
    segment_ms: LatencyStats = field(default_factory=LatencyStats)  # the frame pipeline's total (ms)
    time_jumps: int = 0
    last_jump_log: float = -1e9
    jump_handle: Any = None  # rclpy's clock jump callback handle while active

    def x_silent(self, x_timeout: float, now: float | None = None) -> bool:
        """Whether no X image came for longer than `x_timeout` seconds."""
        return self.meters["x"].silent_for(now) > x_timeout

    def count_jump(self, now: float) -> bool:
        """Count a time jump; True when it should be logged (not the other sign of a jump just logged)."""
        self.time_jumps += 1
        first = now - self.last_jump_log > SAME_JUMP_S
        self.last_jump_log = now
        return first


class ProblemLog:
    """Bad inputs: counted per `stream:cause` (/diagnostics) and logged once per cause, detail and period."""

    def __init__(self, logger: Any, period_s: float = 5.0) -> None:
        self.logger = logger
        self.counts = CauseCounter()
        self.throttle = ThrottledLog(period_s)

    def report(self, stream: str, cause: str, message: str, level: str = "warning", detail: str = "") -> None:
        """Count a problem and log it, throttled per stream, cause and detail."""
        self.counts.add(f"{stream}:{cause}")
        text = self.throttle(f"{stream}:{cause}:{detail}", message)
        if text is None:
            return
        if level == "error":
            self.logger.error(text)
        elif level == "info":
            self.logger.info(text)
        else:
            self.logger.warning(text)

