# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The segment node's state objects (`rxssnet_ros.node_state`) and the time-jump reset that combines them.

The live node tests (test_segment_node*, test_time_jumps, test_lifecycle) check the same behaviour through DDS;
these check each object's own rules directly, in milliseconds.
"""

from __future__ import annotations

import logging

import pytest

from rxssnet_ros import node_params
from rxssnet_ros.node_state import SAME_JUMP_S, NodeHealth, NodeInputs, NodeTiming, ProblemLog
from rxssnet_ros.time_jumps import reset_time_line, stamp_jump


class Records(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def recording_logger(name: str) -> tuple[logging.Logger, Records]:
    """A logger outside the logging tree, with its own handler: what another test module did to the tree (the
    launch package installs its own logger class, whose loggers do not propagate to caplog) cannot change it."""
    logger = logging.Logger(name, logging.DEBUG)
    handler = Records()
    logger.addHandler(handler)
    return logger, handler


def settings(**values: object) -> node_params.NodeSettings:
    return node_params.validate_values({"checkpoint": "model.safetensors", **values}, check_files=False)


def test_arrivals_keep_only_what_the_pairing_holds() -> None:
    inputs = NodeInputs()
    for stamp in range(10):
        inputs.remember_arrival(stamp, now=100.0 + stamp, keep=3)
    assert list(inputs.rgb_arrivals) == [7, 8, 9]
    assert inputs.topic("rgb") == "rgb"  # not subscribed: its name


@pytest.mark.parametrize(("policy", "x_silent", "mode"), [
    ("drop", False, "fused"), ("drop", True, "none"), ("rgb_only", True, "rgb_only"), ("rgb_only", False, "fused")])
def test_without_detection_only_a_silent_x_changes_the_mode(policy: str, x_silent: bool, mode: str) -> None:
    health = NodeHealth()
    health.start(settings(x_missing_policy=policy), now=0.0)
    assert health.monitors == {}
    assert health.serving_mode(settings(x_missing_policy=policy), x_silent) == mode
    assert health.failed("x", x_silent) is x_silent and not health.failed("rgb", x_silent)


def test_a_time_jump_resets_the_time_line_and_logs_once_per_jump() -> None:
    config = settings(detect_input_failures=True)
    inputs, health, timing = NodeInputs(), NodeHealth(), NodeTiming()
    health.start(config, now=0.0)
    first_monitors = dict(health.monitors)
    inputs.last_stamp.update(rgb=5_000_000_000, x=5_000_000_000)
    inputs.remember_arrival(5_000_000_000, now=1.0, keep=5)
    logger, logged = recording_logger("test_node_state")
    cause = stamp_jump(1_000_000_000, 5_000_000_000, config.time_jump_threshold, "RGB image stamps on /rgb")
    assert cause is not None and "went back by 4.000 s" in cause
    assert stamp_jump(4_500_000_000, 5_000_000_000, config.time_jump_threshold, "RGB") is None  # a reordering
    reset_time_line(cause, config, inputs, health, timing, None, logger)
    reset_time_line("the node's clock jumped back", config, inputs, health, timing, None, logger)
    assert inputs.last_stamp == {} and not inputs.rgb_arrivals
    assert set(health.monitors) == {"rgb", "x"}
    assert all(health.monitors[name] is not first_monitors[name] for name in first_monitors)
    assert timing.time_jumps == 2
    assert len(logged.records) == 1 and cause in logged.records[0].getMessage()  # the other sign is silent
    assert timing.count_jump(timing.last_jump_log + SAME_JUMP_S + 0.1)  # a later jump is logged again


def test_problems_are_counted_each_time_and_logged_once_per_period() -> None:
    logger, logged = recording_logger("test_node_state.problems")
    problems = ProblemLog(logger, period_s=60.0)
    for _ in range(3):
        problems.report("rgb", "bad_encoding", "RGB image on /rgb: encoding 'yuv' unsupported: dropped")
    problems.report("x", "silent", "X silent", level="error")
    assert problems.counts.snapshot() == {"rgb:bad_encoding": 3, "x:silent": 1}
    assert [record.levelname for record in logged.records] == ["WARNING", "ERROR"]
