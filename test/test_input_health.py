# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""rxssnet_core.input_health: each failure kind is detected after its configured time, and recovery has
hysteresis (no flapping)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rxssnet_core.input_health import (
    HealthConfigError,
    HealthThresholds,
    InputMonitor,
    InputState,
    check_frame,
    degraded_mode,
)

LIMITS = HealthThresholds(silent_after_s=0.5, frozen_after_s=0.4, enter_after_s=0.2, exit_after_s=0.6)
PERIOD = 1 / 30


def _live(index: int, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(index)
    return rng.integers(20, 230, size=(48, 64)).astype(dtype)


def _feed(monitor: InputMonitor, frames: list[np.ndarray | None], start: float, stamps: list[int] | None = None
          ) -> list[InputState]:
    states = []
    for k, frame in enumerate(frames):
        now = start + k * PERIOD
        stamp = stamps[k] if stamps is not None else int(now * 1e9)
        monitor.observe(frame, stamp, now)
        states.append(monitor.update(now))
    return states


def _first_unhealthy(states: list[InputState]) -> int:
    return next(k for k, state in enumerate(states) if not state.healthy)


def test_live_stream_stays_healthy() -> None:
    monitor = InputMonitor("x", LIMITS)
    states = _feed(monitor, [_live(k) for k in range(60)], 0.0)
    assert all(state.healthy for state in states)
    assert degraded_mode(states[-1], states[-1]) == "fused"


def test_silent_after_configured_time_and_recovery_with_hysteresis() -> None:
    monitor = InputMonitor("x", LIMITS)
    monitor.start(0.0)
    _feed(monitor, [_live(k) for k in range(10)], 0.0)
    last = 9 * PERIOD
    assert monitor.update(last + 0.45).healthy  # not yet silent_after_s
    state = monitor.update(last + 0.55)
    assert not state.healthy and state.cause == "silent"
    # Messages again: healthy only after exit_after_s of good messages.
    states = _feed(monitor, [_live(100 + k) for k in range(30)], last + 1.0)
    recovered = next(k for k, s in enumerate(states) if s.healthy)
    assert LIMITS.exit_after_s <= recovered * PERIOD < LIMITS.exit_after_s + 2 * PERIOD


def test_never_sending_input_goes_silent_after_start() -> None:
    monitor = InputMonitor("rgb", LIMITS)
    monitor.start(10.0)
    assert monitor.update(10.4).healthy
    assert monitor.update(10.6).cause == "silent"


@pytest.mark.parametrize("kind", ["content", "stamp"])
def test_frozen_content_or_stamp(kind: str) -> None:
    monitor = InputMonitor("x", LIMITS)
    live = [_live(k) for k in range(10)]
    frozen = [_live(9)] * 30 if kind == "content" else [_live(200 + k) for k in range(30)]
    stamps = list(range(1, 11)) + ([11 + k for k in range(30)] if kind == "content" else [10] * 30)
    states = _feed(monitor, live + frozen, 0.0, stamps)
    first = _first_unhealthy(states)
    assert states[first].cause == "frozen"
    # The first repeat is frame 10 (content) or frame 10 (stamp 10 again); frozen once frozen_after_s has passed.
    assert LIMITS.frozen_after_s <= (first - 9) * PERIOD <= LIMITS.frozen_after_s + 2 * PERIOD


@pytest.mark.parametrize(("value", "dtype", "cause"), [(0, np.uint8, "blank"), (255, np.uint8, "saturated"),
                                                       (3, np.uint8, "blank"), (65535, np.uint16, "saturated")])
def test_constant_image_is_blank_or_saturated(value: int, dtype: type, cause: str) -> None:
    rng = np.random.default_rng(0)
    image = np.full((48, 64), value, dtype=np.int64) + rng.integers(0, 2, size=(48, 64))  # +-1 count of noise
    image = np.clip(image, 0, np.iinfo(dtype).max).astype(dtype)
    assert check_frame(image, LIMITS).cause == cause
    monitor = InputMonitor("rgb", LIMITS)
    states = _feed(monitor, [_live(k, dtype) for k in range(5)] + [image] * 20, 0.0)
    first = _first_unhealthy(states)
    assert states[first].cause == cause
    assert LIMITS.enter_after_s <= (first - 5) * PERIOD <= LIMITS.enter_after_s + 2 * PERIOD


def test_textured_dark_image_is_not_blank() -> None:
    dark = np.random.default_rng(1).integers(0, 12, size=(48, 64)).astype(np.uint8)  # night, but a real image
    assert check_frame(dark, LIMITS).cause == ""


def test_nonfinite_depth_over_threshold() -> None:
    depth = np.random.default_rng(2).uniform(0.5, 8.0, size=(48, 64)).astype(np.float32)
    assert check_frame(depth, LIMITS).cause == ""
    half = depth.copy()
    half[:20] = np.nan  # 42 % invalid: under max_nonfinite 0.5
    assert check_frame(half, LIMITS).cause == ""
    blinded = depth.copy()
    blinded[:30] = np.inf  # 62 %
    assert check_frame(blinded, LIMITS).cause == "nonfinite"


def test_flicker_does_not_flap() -> None:
    """A failure shorter than enter_after_s never switches; after a real failure, good frames interleaved
    with bad ones never bring the input back (exit needs exit_after_s of uninterrupted good frames)."""
    monitor = InputMonitor("x", LIMITS)
    black = np.zeros((48, 64), np.uint8)
    brief = [_live(k) for k in range(10)] + [black] * 3 + [_live(50 + k) for k in range(10)]  # 0.1 s < 0.2 s
    assert all(s.healthy for s in _feed(monitor, brief, 0.0))
    flicker = [black] * 12 + [black if k % 4 == 0 else _live(300 + k) for k in range(60)]
    states = _feed(monitor, flicker, 10.0)
    first = _first_unhealthy(states)
    assert all(not s.healthy for s in states[first:])
    changes = sum(a.healthy != b.healthy for a, b in itertools.pairwise(states))
    assert changes == 1


def test_degraded_mode_table() -> None:
    ok, bad = InputState(), InputState(False, "silent", "")
    assert [degraded_mode(ok, ok), degraded_mode(ok, bad), degraded_mode(bad, ok), degraded_mode(bad, bad)] == [
        "fused", "rgb_only", "x_only", "none"]


def test_bad_thresholds_are_named() -> None:
    with pytest.raises(HealthConfigError, match="silent_after_s"):
        HealthThresholds(silent_after_s=-1)
    with pytest.raises(HealthConfigError, match="max_nonfinite"):
        HealthThresholds(max_nonfinite=0)
