# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The soak benchmark's bookkeeping: failure schedule, label gaps, switch accounting, RSS growth, the table.

A real run (`python -m rxssnet_ros.benchmarks.soak --minutes 2`) takes minutes; these tests feed the functions
the measurements a run would record.
"""

from __future__ import annotations

import pytest

from rxssnet_ros.benchmarks.soak import (
    FAILURES,
    active_failure,
    expected_switches,
    failure_schedule,
    frame_images,
    longest_gap,
    main,
    markdown,
    parse_switches,
    report_rows,
    rss_growth_percent,
)

SWITCH_TIMES = {"x_timeout": 0.5, "rgb_timeout": 0.5, "frozen_timeout": 0.5, "failure_enter_time": 0.3}


def test_schedule_injects_each_kind_in_turn_once_per_period():
    schedule = failure_schedule(6 * 60.0, 60.0)
    assert [s.kind for s in schedule] == ["silent", "frozen", "blank", "saturated", "nonfinite", "silent"]
    assert [s.kind for s in schedule[:5]] == list(FAILURES)
    assert schedule[3].stream == "rgb" and schedule[3].expected_mode == "x_only"
    assert (schedule[1].start_s, schedule[1].end_s, schedule[1].cycle_end_s) == (75.0, 99.0, 120.0)
    assert active_failure(schedule, 80.0).kind == "frozen"
    assert active_failure(schedule, 100.0) is None and active_failure(schedule, 10.0) is None
    with pytest.raises(ValueError, match="at least one --period"):
        failure_schedule(30.0, 60.0)


def test_each_failure_touches_only_its_own_camera():
    rgb, x = ["rgb0", "rgb1"], ["x0", "x1"]
    bad_rgb, bad_x = {"saturated": "white"}, {"blank": "zeros", "nonfinite": "nan"}
    images = {kind: frame_images(kind, 3, rgb, x, bad_rgb, bad_x) for kind in FAILURES}
    assert frame_images(None, 3, rgb, x, bad_rgb, bad_x) == ("rgb1", "x1")
    # a saturated RGB camera: X keeps its healthy frames (the node can serve x_only)
    assert images["saturated"] == ("white", "x1")
    assert images["silent"] == ("rgb1", None) and images["frozen"] == ("rgb1", "x0")
    assert images["blank"] == ("rgb1", "zeros") and images["nonfinite"] == ("rgb1", "nan")


def test_longest_gap_counts_silences_at_the_window_edges():
    assert longest_gap([1.0, 1.1, 1.9, 2.0], 1.0, 2.5) == pytest.approx(0.8)
    assert longest_gap([1.0, 1.1], 1.0, 3.0) == pytest.approx(1.9)  # labels stop before the window ends
    assert longest_gap([], 0.0, 2.0) == pytest.approx(2.0)
    assert longest_gap([5.0], 0.0, 2.0) == pytest.approx(2.0)  # labels outside the window do not count


def test_switches_from_the_node_log():
    log = ("[WARN] [1.0] [soak.segment_node]: mode fused -> rgb_only: x: silent for 0.5 s\n"
           "[INFO] [3.0] [soak.segment_node]: mode rgb_only -> fused: both inputs healthy again\n"
           "[INFO] [3.1] [soak.segment_node]: something else\n")
    assert parse_switches(log) == [("fused", "rgb_only"), ("rgb_only", "fused")]
    # The cameras stopping at the end of the run is not a switch of the run.
    ended = log + "[WARN] [9.5] [soak.segment_node]: mode fused -> none: rgb: silent; x: silent\n"
    assert parse_switches(ended, until_epoch_s=9.0) == parse_switches(log)
    assert parse_switches(ended)[-1] == ("fused", "none")
    assert expected_switches(failure_schedule(120.0, 60.0)) == [
        ("fused", "rgb_only"), ("rgb_only", "fused"), ("fused", "rgb_only"), ("rgb_only", "fused")]


def _result(log: str, modes: list[tuple[float, str]], labels: list[float]) -> dict:
    return {"schedule": failure_schedule(20.0, 10.0), "period_s": 10.0, "duration_s": 20.0, "frames": 600,
            "labels": labels, "modes": modes, "log": log, "rss": [(0.0, 100.0), (10.0, 100.0), (20.0, 101.0)]}


GOOD_LOG = ("mode fused -> rgb_only: x silent\nmode rgb_only -> fused: ok\n"
            "mode fused -> rgb_only: x frozen\nmode rgb_only -> fused: ok\n")
GOOD_MODES = [(-0.5, "fused"), (3.1, "rgb_only"), (7.0, "fused"), (13.0, "rgb_only"), (17.0, "fused")]


def test_report_rows_judge_gaps_and_switches():
    steady = [i / 30 for i in range(600) if not 2.5 <= i / 30 < 3.0]  # one 0.53 s gap as X goes silent
    rows = report_rows(_result(GOOD_LOG, GOOD_MODES, steady), SWITCH_TIMES)
    assert [row["kind"] for row in rows] == ["silent", "frozen"]
    assert rows[0]["longest_gap_s"] == pytest.approx(0.5 + 1 / 30, abs=1e-6) and rows[0]["gap_ok"]
    assert rows[1]["longest_gap_s"] < 0.05 and all(row["switches_ok"] for row in rows)
    # A switch logged twice (flapping) fails every row's "once" check; so does a missing announcement.
    flapping = report_rows(_result(GOOD_LOG + "mode fused -> rgb_only: again\n", GOOD_MODES, steady), SWITCH_TIMES)
    assert not any(row["switches_ok"] for row in flapping)
    unannounced = report_rows(_result(GOOD_LOG, GOOD_MODES[:-1], steady), SWITCH_TIMES)
    assert not unannounced[1]["switches_ok"]
    # What the node says once the feed has stopped (both inputs silent) is outside the run.
    after = _result("[1.0] " + GOOD_LOG + "[125.0] mode fused -> none: silent\n", [*GOOD_MODES, (20.4, "none")],
                    steady)
    after["end_epoch_s"] = 120.0
    assert all(row["switches_ok"] for row in report_rows(after, SWITCH_TIMES))
    assert rows[0]["healthy_gap_s"] < 0.05
    # Labels that stop for 2 s exceed the switch time.
    stalled = report_rows(_result(GOOD_LOG, GOOD_MODES, [t for t in steady if not 12.0 <= t < 14.0]), SWITCH_TIMES)
    assert stalled[0]["gap_ok"] and not stalled[1]["gap_ok"]
    table = markdown(_result(GOOD_LOG, GOOD_MODES, steady), rows, "python -m rxssnet_ros.benchmarks.soak --x")
    assert "`python -m rxssnet_ros.benchmarks.soak --x`" in table and "| 0 | silent | x | rgb_only |" in table
    assert "+1.00 %" in table and "CPUs" in table


def test_rss_growth_from_the_baseline_sample():
    assert rss_growth_percent([(0.0, 50.0), (60.0, 100.0), (120.0, 103.0)], 60.0) == pytest.approx(
        (100.0, 103.0, 3.0))
    base, _final, growth = rss_growth_percent([], 60.0)
    assert base != base and growth != growth  # NaN: nothing measured


def test_cli_rejects_runs_too_short_for_one_failure(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--minutes", "0.5", "--period", "60"])
    assert exit_info.value.code == 2 and "--period" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--period", "1"])
    assert "too short" in capsys.readouterr().err
