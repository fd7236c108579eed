"""`make demo`'s pipeline on a reduced size: train, bag, live ROS 2 graph, reports, comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quick_demo_runs_the_whole_pipeline_in_a_ros_graph(tmp_path, ros_env):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "rxssnet_ros.demo", "--quick", "--out", str(out)],
                            env={**ros_env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["frames_segmented"] == summary["frames_in_bag"] == 6
    # The live graph (segment_node -> eval_node) scores exactly what the offline Segmenter scores.
    assert summary["ros_miou"] == pytest.approx(summary["offline_miou"], abs=1e-12)
    for key in ("overlay_strip", "comparison_md", "comparison_png", "checkpoint"):
        assert Path(summary[key]).is_file(), key
    report = json.loads((out / "ros_eval_report" / "metrics.json").read_text())
    assert len(report["iou"]) == 4
    assert (out / "ros_eval_report" / "per_class_iou.png").stat().st_size > 1000
    assert (out / "overlay_strip.png").stat().st_size > 1000
    assert "Outputs:" in result.stdout and "overlay strip" in result.stdout
