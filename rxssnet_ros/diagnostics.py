# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Rates, latencies and the diagnostic_msgs status of the segmentation node (numpy-free)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from rxssnet_core.percentiles import percentile

OK, WARN, ERROR, STALE = 0, 1, 2, 3


class RateMeter:
    """Events per second over the last `window_s` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = float(window_s)
        self._times: deque[float] = deque()
        self._created = time.monotonic()
        self._lock = threading.Lock()
        self.count = 0
        self.last: float | None = None

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self.count += 1
            self.last = now
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            span = min(self.window_s, now - self._created)
            return len(self._times) / span if span > 0 else 0.0

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last event, or None when there was none."""
        now = time.monotonic() if now is None else now
        return None if self.last is None else now - self.last

    def silent_for(self, now: float | None = None) -> float:
        """Seconds since the last event, or since the meter was created when there was none."""
        now = time.monotonic() if now is None else now
        return now - (self.last if self.last is not None else self._created)

    def reset_clock(self, now: float | None = None) -> None:
        """Restart the silence clock (e.g. when subscriptions are (re)created)."""
        with self._lock:
            self._created = time.monotonic() if now is None else now
            self.last = None
            self._times.clear()


class LatencyStats:
    """The last `size` latencies in milliseconds; mean, percentiles and max."""

    def __init__(self, size: int = 300) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, milliseconds: float) -> None:
        with self._lock:
            self._values.append(float(milliseconds))

    def summary(self) -> dict[str, float]:
        """count, mean, p50, p99, max (0 when empty); percentiles as every benchmark computes them."""
        with self._lock:
            values = list(self._values)
        if not values:
            return {"count": 0, "mean": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
        return {"count": len(values), "mean": sum(values) / len(values), "p50": percentile(values, 50),
                "p99": percentile(values, 99), "max": max(values)}


class CauseCounter:
    """Counts events per cause (bad inputs, drops), thread-safe."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, cause: str, count: int = 1) -> None:
        with self._lock:
            self._counts[cause] = self._counts.get(cause, 0) + count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class ThrottledLog:
    """Lets one line per key through every `period_s` seconds, counting the lines held back in between.

    Keys are causes, not call sites, so that two different problems never hide each other. `__call__` returns the
    text to log (with the count of held-back lines) or None; the caller logs it, one call site per severity,
    because rclpy loggers refuse a call site that changes severity.
    """

    def __init__(self, period_s: float = 5.0) -> None:
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            held = self._held.pop(key, 0)
            self._last[key] = now
        return message + (f" ({held} more like this in the last {self.period_s:g} s)" if held else "")


@dataclass
class HealthReport:
    """What /diagnostics says: level (OK/WARN/ERROR), one-line message, and key/value details."""

    level: int = OK
    problems: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)

    def warn(self, problem: str) -> None:
        self.problems.append(problem)
        self.level = max(self.level, WARN)

    def error(self, problem: str) -> None:
        self.problems.append(problem)
        self.level = max(self.level, ERROR)

    def add_values(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.values[key] = _format(value)

    @property
    def message(self) -> str:
        return "; ".join(self.problems) if self.problems else "segmenting"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def latency_values(prefix: str, summary: Mapping[str, float]) -> dict[str, Any]:
    """Flatten a LatencyStats summary into diagnostic key/values (prefix_mean_ms, ...)."""
    return {f"{prefix}_{key}_ms": value for key, value in summary.items() if key != "count"}


def to_diagnostic_array(name: str, hardware_id: str, reports: Iterable[HealthReport], stamp: Any) -> Any:
    """HealthReports -> diagnostic_msgs/DiagnosticArray (one DiagnosticStatus each, all named `name`)."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    for report in reports:
        status = DiagnosticStatus()
        status.level = bytes([report.level])
        status.name = name
        status.hardware_id = hardware_id
        status.message = report.message
        status.values = [KeyValue(key=key, value=value) for key, value in report.values.items()]
        array.status.append(status)
    return array
