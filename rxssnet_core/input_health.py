# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Is a camera still delivering? Per-input failure detection with hysteresis, and the degraded mode it implies.

ROS-free (numpy only): the segment node, the soak benchmark and tests feed it messages' arrays and stamps.

    monitor = InputMonitor("x", HealthThresholds(silent_after_s=0.5))
    monitor.observe(image, stamp_ns, now)      # every message: image (H, W[, C]) uint8/uint16/float, stamp in ns
    monitor.update(now)                        # every frame or timer tick (detects silence); -> InputState
    monitor.state.healthy, monitor.state.cause, monitor.state.detail

Failures (`CAUSES`), each checked on a cheap subsample (every `subsample`-th row and column):
    silent     no message for `silent_after_s`
    frozen     identical image content (a hash of the subsample) or a stamp that does not advance, for
               `frozen_after_s`
    blank      nearly constant and dark (std below `constant_std` of the dtype's full scale; mean in the lower
               half): a lens cap, an unplugged sensor that publishes zeros, night for RGB
    saturated  nearly constant and bright (mean in the upper half): sun in the lens, an overexposed sensor
    nonfinite  a share of NaN/inf pixels above `max_nonfinite` (float images: a depth camera blinded by sun)
Hysteresis: a failure counts only once it has lasted `enter_after_s` (silent and frozen have their own
durations), and a failed input is healthy again only after `exit_after_s` of good messages, so a flickering
input never flaps the mode.

`degraded_mode(rgb_state, x_state)` -> "fused" | "rgb_only" | "x_only" | "none": the mode the node runs in.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from rxssnet_core.errors import RXSSNetError

CAUSES = ("silent", "frozen", "blank", "saturated", "nonfinite")
MODES = ("fused", "rgb_only", "x_only", "none")


class HealthConfigError(RXSSNetError, ValueError):
    """A threshold is out of range; the message names it."""


@dataclass(frozen=True)
class HealthThresholds:
    """When an input counts as failed, and when as recovered (seconds; fractions of the dtype's full scale)."""

    silent_after_s: float = 1.0
    frozen_after_s: float = 1.0
    enter_after_s: float = 0.3
    exit_after_s: float = 1.0
    constant_std: float = 0.004
    max_nonfinite: float = 0.5
    subsample: int = 8

    def __post_init__(self) -> None:
        for name in ("silent_after_s", "frozen_after_s", "enter_after_s", "exit_after_s"):
            if not float(getattr(self, name)) >= 0:
                raise HealthConfigError(f"{name}={getattr(self, name)!r} must be >= 0 seconds")
        if not 0 <= self.constant_std < 1:
            raise HealthConfigError(f"constant_std={self.constant_std!r} must be a fraction in [0, 1)")
        if not 0 < self.max_nonfinite <= 1:
            raise HealthConfigError(f"max_nonfinite={self.max_nonfinite!r} must be a fraction in (0, 1]")
        if int(self.subsample) < 1:
            raise HealthConfigError(f"subsample={self.subsample!r} must be an integer >= 1")


@dataclass(frozen=True)
class InputState:
    """healthy, or the failure `cause` (one of CAUSES) with a human `detail`; `since` = monotonic seconds."""

    healthy: bool = True
    cause: str = ""
    detail: str = ""
    since: float = 0.0


@dataclass(frozen=True)
class FrameCheck:
    """What one image looks like: the content hash and the per-image failure (or '')."""

    digest: int
    cause: str
    detail: str


def full_scale(dtype: np.dtype) -> float:
    """The value range an image of `dtype` can span (float images: 1.0, and their std is taken as is)."""
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def check_frame(image: np.ndarray, thresholds: HealthThresholds) -> FrameCheck:
    """Hash and per-image failure (blank / saturated / nonfinite, or '') of one image, on its subsample."""
    step = int(thresholds.subsample)
    sample = np.ascontiguousarray(np.asarray(image)[::step, ::step])
    digest = zlib.crc32(sample.tobytes()) ^ (hash(sample.shape) & 0xFFFFFFFF)
    values = sample.astype(np.float64, copy=False)
    if np.issubdtype(sample.dtype, np.floating):
        finite = np.isfinite(values)
        bad = 1.0 - float(finite.mean()) if values.size else 0.0
        if bad > thresholds.max_nonfinite:
            return FrameCheck(digest, "nonfinite", f"{bad:.0%} of the pixels are NaN or inf "
                                                   f"(max_nonfinite {thresholds.max_nonfinite:.0%})")
        values = values[finite]
        if values.size == 0:
            return FrameCheck(digest, "nonfinite", "every pixel is NaN or inf")
    scale = full_scale(sample.dtype)
    std = float(values.std()) / scale
    if std <= thresholds.constant_std:
        mean = float(values.mean()) / scale
        bright = np.issubdtype(sample.dtype, np.integer) and mean >= 0.5
        cause = "saturated" if bright else "blank"
        return FrameCheck(digest, cause, f"the image is nearly constant (std {std:.4f} of full scale <= "
                                         f"{thresholds.constant_std}, mean {mean:.3f})")
    return FrameCheck(digest, "", "")


class InputMonitor:
    """The health of one input stream, with hysteresis. Not thread-safe: call it from one thread (or lock)."""

    def __init__(self, name: str, thresholds: HealthThresholds | None = None) -> None:
        self.name = name
        self.thresholds = thresholds or HealthThresholds()
        self.state = InputState()
        self.last_message: float | None = None
        self._last_digest: int | None = None
        self._last_stamp: int | None = None
        self._same_since: float | None = None  # first message of a run of identical content or stamp
        self._bad_since: float | None = None  # first message of a run with the same per-image failure
        self._bad: tuple[str, str] = ("", "")
        self._good_since: float | None = None  # first good message after a failure
        self._started: float | None = None

    def start(self, now: float) -> None:
        """Begins the silence clock (an input that never sends goes silent `silent_after_s` after this)."""
        self._started = now

    def observe(self, image: np.ndarray | None, stamp_ns: int | None, now: float) -> InputState:
        """One message arrived: its image (None: not inspected, only the arrival counts) and header stamp."""
        limits = self.thresholds
        self.last_message = now
        cause, detail = "", ""
        same = False
        if stamp_ns is not None:
            same = self._last_stamp is not None and stamp_ns <= self._last_stamp
            self._last_stamp = stamp_ns if self._last_stamp is None else max(self._last_stamp, stamp_ns)
        if image is not None:
            check = check_frame(image, limits)
            same = same or (self._last_digest is not None and check.digest == self._last_digest)
            self._last_digest = check.digest
            cause, detail = check.cause, check.detail
        if same:
            self._same_since = now if self._same_since is None else self._same_since
            if now - self._same_since >= limits.frozen_after_s and not cause:
                cause, detail = "frozen", (f"identical image content or header stamp for "
                                           f"{now - self._same_since:.1f} s (frozen_after_s {limits.frozen_after_s})")
        else:
            self._same_since = None
        if cause:
            if self._bad[0] != cause:
                self._bad_since = now
            self._bad = (cause, detail)
            self._good_since = None
            held = now - (self._bad_since if self._bad_since is not None else now)
            entering = self.state.healthy and (cause == "frozen" or held >= limits.enter_after_s)
            if entering or (not self.state.healthy and self.state.cause != cause):
                self.state = InputState(False, cause, detail, now)
            return self.state
        self._bad, self._bad_since = ("", ""), None
        if self._same_since is not None:  # a repeat that is not (yet) frozen: not evidence of health
            return self.state
        if not self.state.healthy:
            self._good_since = now if self._good_since is None else self._good_since
            if now - self._good_since >= limits.exit_after_s:
                self.state = InputState(True, "", "", now)
                self._good_since = None
        return self.state

    def silent_for(self, now: float) -> float:
        """Seconds since the last message (or since `start`; 0.0 before either)."""
        reference = self.last_message if self.last_message is not None else self._started
        return 0.0 if reference is None else max(0.0, now - reference)

    def update(self, now: float) -> InputState:
        """Checks for silence; call it periodically. Returns the current state."""
        silent = self.silent_for(now)
        if silent >= self.thresholds.silent_after_s and (self.state.healthy or self.state.cause != "silent"):
            self.state = InputState(False, "silent", f"no message for {silent:.1f} s (silent_after_s "
                                                     f"{self.thresholds.silent_after_s})", now)
            self._good_since = None
            self._same_since = None  # a restarted camera's first repeated stamp is not a freeze
        return self.state


def degraded_mode(rgb: InputState, x: InputState) -> str:
    """The mode implied by the two inputs' health: fused, rgb_only (X failed), x_only (RGB failed) or none."""
    if rgb.healthy and x.healthy:
        return "fused"
    if rgb.healthy:
        return "rgb_only"
    if x.healthy:
        return "x_only"
    return "none"


def describe(name: str, state: InputState) -> str:
    """'x: frozen (identical image content ...)' or 'x: ok'."""
    return f"{name}: ok" if state.healthy else f"{name}: {state.cause} ({state.detail})"
