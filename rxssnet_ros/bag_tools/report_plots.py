# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The bag/live evaluation report: `rxssnet_core.evaluation.report.write_reports` plus latency and problems.

Files in the output folder:

- metrics.json, metrics.md, confusion_matrix.png, per_class_iou.png (the same as `rxssnet eval` writes);
- metrics.json gains a section (`bag_eval` offline, `live_eval` from the eval node) with latency statistics of
  the segmentation timing (mean, median, p90, p99, min, max, std in ms, per stage too), counts and every problem
  found in the input (kind, topic, count, examples, sentence); metrics.md gains the same as tables and a list;
- latency_histogram.png and latency_timeline.png (when latencies are given; every plot needs matplotlib, without
  which the report is written without them);
- frames.csv: one row per segmented frame (stamp, stem, latency, pixel accuracy).

Plots use matplotlib's object API with the Agg canvas (no pyplot, no display).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rxssnet_core.evaluation.report import new_figure, plots_available, write_reports

LATENCY_KEYS = ("count", "mean", "median", "p90", "p99", "min", "max", "std")


def latency_stats(values_ms: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, median, p90, p99, min, max, std of latencies in ms (None when there are none)."""
    values = np.asarray(list(values_ms), dtype=np.float64)
    if values.size == 0:
        return {key: (0 if key == "count" else None) for key in LATENCY_KEYS}
    p50, p90, p99 = np.percentile(values, (50, 90, 99))
    return {"count": int(values.size), "mean": float(values.mean()), "median": float(p50), "p90": float(p90),
            "p99": float(p99), "min": float(values.min()), "max": float(values.max()), "std": float(values.std())}


def plot_latency_histogram(values_ms: Sequence[float], path: str | Path, title: str = "segmentation latency"
                           ) -> Path:
    """Histogram of per-frame latencies with the median, p90 and p99 marked."""
    values = np.asarray(list(values_ms), dtype=np.float64)
    stats = latency_stats(values)
    figure = new_figure(7.0, 4.0)
    axes = figure.add_subplot(1, 1, 1)
    bins = int(min(60, max(5, round(math.sqrt(max(values.size, 1)) * 2))))
    axes.hist(values, bins=bins, color="#4878d0", edgecolor="white")
    for key, colour in (("median", "#6acc64"), ("p90", "#ee854a"), ("p99", "#d65f5f")):
        if stats[key] is not None:
            axes.axvline(stats[key], color=colour, linestyle="--", label=f"{key} {stats[key]:.1f} ms")
    axes.set_xlabel("latency (ms, Segmenter total: preprocess + inference + postprocess)")
    axes.set_ylabel("frames")
    axes.set_title(f"{title} ({stats['count']} frames, mean {stats['mean'] or 0:.1f} ms)")
    if values.size:
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def plot_latency_timeline(values_ms: Sequence[float], path: str | Path) -> Path:
    """Latency of each frame in replay order (spikes, warm-up, thermal throttling show up here)."""
    values = np.asarray(list(values_ms), dtype=np.float64)
    figure = new_figure(7.0, 3.0)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(np.arange(values.size), values, color="#4878d0", linewidth=1.0, marker="." if values.size < 200 else "")
    axes.set_xlabel("frame")
    axes.set_ylabel("latency (ms)")
    axes.set_title("latency per frame")
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def _fmt_ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _markdown_section(section: str, latency: dict[str, Any] | None, stages: dict[str, dict[str, Any]],
                      counts: dict[str, Any], issues: list[dict[str, Any]]) -> str:
    title = "Bag replay" if section == "bag_eval" else "Live evaluation"
    lines = ["", f"## {title}", ""]
    if counts:
        lines += ["| count | value |", "|---|---|"] + [f"| {key} | {value} |" for key, value in counts.items()]
        lines.append("")
    if latency is not None:
        lines += ["### Latency (ms)", "", "| stage | " + " | ".join(LATENCY_KEYS) + " |",
                  "|---" * (len(LATENCY_KEYS) + 1) + "|"]
        rows = {"total": latency, **{k: v for k, v in stages.items() if k != "total_ms"}}
        for name, stats in rows.items():
            cells = [str(stats["count"])] + [_fmt_ms(stats[key]) for key in LATENCY_KEYS[1:]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["### Problems in the input", ""]
    if issues:
        for issue in issues:
            examples = f" (e.g. {', '.join(issue['examples'][:3])})" if issue["examples"] else ""
            lines.append(f"- {issue['text']}{examples}")
    else:
        lines.append("- none")
    return "\n".join(lines) + "\n"


def write_eval_report(metrics: Any, out_dir: str | Path, class_names: list[str], *, section: str = "bag_eval",
                      latencies_ms: Sequence[float] | None = None, stage_ms: dict[str, Sequence[float]] | None = None,
                      issues: list[dict[str, Any]] | None = None, counts: dict[str, Any] | None = None,
                      frames: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None
                      ) -> dict[str, Path]:
    """Writes the full report into `out_dir` (see the module docstring); returns {name: path}.

    section: "bag_eval" (offline replay) or "live_eval" (eval node). latencies_ms: per-frame total latency;
    stage_ms: per-stage lists (Segmenter timing keys). issues: `IssueLog.to_list()`.
    """
    out = Path(out_dir)
    paths = write_reports(metrics, out, class_names, extra=extra)
    latency = latency_stats(latencies_ms) if latencies_ms is not None else None
    stages = {key: latency_stats(values) for key, values in (stage_ms or {}).items()}
    payload = json.loads(paths["json"].read_text())
    payload[section] = {
        "latency_ms": latency,
        "stages_ms": stages,
        "counts": dict(counts or {}),
        "issues": list(issues or []),
    }
    paths["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    with paths["markdown"].open("a") as handle:
        handle.write(_markdown_section(section, latency, stages, dict(counts or {}), list(issues or [])))
    if latencies_ms is not None and plots_available():
        paths["latency_histogram"] = plot_latency_histogram(latencies_ms, out / "latency_histogram.png")
        paths["latency_timeline"] = plot_latency_timeline(latencies_ms, out / "latency_timeline.png")
    if frames:
        paths["frames"] = out / "frames.csv"
        columns = ["stamp_ns", "x_stamp_ns", "stem", "latency_ms", "scored", "pixel_accuracy"]
        with paths["frames"].open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for frame in frames:
                writer.writerow({key: frame.get(key) for key in columns})
    return paths
