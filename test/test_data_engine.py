# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The data-engine benchmark's pieces at their real size (the training runs are the benchmark's, not a test's):
the recorded bag with ground truth on its own topic, reading it back, the labelled sets, the verdict lines."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from rxssnet_core.data import build_dataset
from rxssnet_ros.benchmarks import data_engine as de

pytestmark = pytest.mark.slow


def test_recording_labelled_sets_and_verdicts(tmp_path: Path) -> None:
    domains = de.record_bag(tmp_path / "recording")
    frames = de.read_bag_frames(tmp_path / "recording")
    assert sorted(frames) == sorted(domains) and len(frames) == 240
    nights = [s for s, d in domains.items() if d == "night"]
    assert len(nights) == 80  # every third segment of 20 frames
    day = next(s for s, d in domains.items() if d == "day")
    assert frames[nights[0]]["rgb"].mean() < 0.3 * frames[day]["rgb"].mean()
    assert set(frames[day]) == {"rgb", "x", "gt"} and frames[day]["gt"].max() <= 3
    picked = sorted(nights[:3])
    folder = de.write_labelled_set(tmp_path / "set", frames, picked)
    dataset = build_dataset("generic", folder, "train", preprocess=None, augment=None)
    assert len(dataset) == 3
    np.testing.assert_array_equal(dataset.read_raw(0).label, frames[picked[0]]["gt"])

    def results(mined: float, random: float, original: float) -> dict:
        row = {"shifted": [mined] * 2, "original": [original] * 2, "night_picks": [12, 12]}
        return {"base": {"shifted": [0.6], "original": [0.9]}, "mined": row,
                "random": {**row, "shifted": [random, random], "night_picks": [3, 5]},
                "all": {**row, "night_picks": [80]}}

    args = argparse.Namespace(budget=16)
    assert "+5.00 points (target >= +3): met" in de.table(results(0.85, 0.80, 0.895), args)
    assert "drop after mined fine-tuning: 0.50 points (target <= 1): met" in de.table(results(0.85, 0.8, 0.895), args)
    assert "NOT met" in de.table(results(0.82, 0.80, 0.895), args)
    assert "NOT met" in de.table(results(0.85, 0.80, 0.88), args)
