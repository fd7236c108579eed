# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Evaluation reports: metrics.json, metrics.md, confusion_matrix.png and per_class_iou.png.

Plots use matplotlib's object API with the Agg canvas (no pyplot, no display, no global backend switch).
matplotlib is optional (requirements/train.txt; a headless robot's install lacks it): without it the reports
are written without their plots, and a warning says how to get them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from rxssnet_core.evaluation.metrics import MetricsError, SegmentationMetrics

_log = logging.getLogger(__name__)
NO_PLOTS = "matplotlib is not installed: the report has no plots (pip install -r requirements/train.txt adds them)"


def plots_available() -> bool:
    """Whether matplotlib is installed, so that reports get their plots (found without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def _fmt(value: float | None, scale: float = 100.0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * scale:.2f}"


def _markdown(metrics: SegmentationMetrics, class_names: list[str], extra: dict[str, Any] | None) -> str:
    lines = ["# Evaluation", ""]
    for key, value in (extra or {}).items():
        lines.append(f"- {key}: `{value}`")
    if extra:
        lines.append("")
    lines += [
        "| metric | value (%) |",
        "|---|---|",
        f"| mIoU | {_fmt(metrics.miou)} |",
        f"| pixel accuracy | {_fmt(metrics.pixel_accuracy)} |",
        f"| mean accuracy | {_fmt(metrics.mean_accuracy)} |",
        f"| frequency-weighted IoU | {_fmt(metrics.fwiou)} |",
        "",
        f"Labelled pixels: {metrics.num_pixels}. mIoU is the mean over classes present in the ground truth or the "
        "prediction (n/a classes are skipped).",
        "",
        "| class | IoU (%) | accuracy (%) |",
        "|---|---|---|",
    ]
    accuracies = metrics.class_accuracy or [float("nan")] * len(metrics.iou)
    for name, iou, acc in zip(class_names, metrics.iou, accuracies):
        lines.append(f"| {name} | {_fmt(iou)} | {_fmt(acc)} |")
    return "\n".join(lines) + "\n"


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure (width x height inches, 100 dpi) on the Agg canvas: no pyplot, no display."""
    # matplotlib: optional (requirements/train.txt); only the report's plots need it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # matplotlib: as above

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], path: Path) -> Path:
    """Row-normalised confusion matrix (each GT row sums to 1) as a heat map PNG."""
    matrix = np.asarray(matrix, dtype=np.float64)
    k = matrix.shape[0]
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    side = min(max(4.0, 0.45 * k + 2.5), 24.0)
    figure = new_figure(side, side)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(k))
    axes.set_yticks(range(k))
    font = 8 if k <= 20 else 5
    axes.set_xticklabels(class_names, rotation=90, fontsize=font)
    axes.set_yticklabels(class_names, fontsize=font)
    axes.set_xlabel("prediction")
    axes.set_ylabel("ground truth")
    axes.set_title("confusion matrix (row-normalised)")
    if k <= 20:  # numbers stay legible only for small K
        for row in range(k):
            for col in range(k):
                value = normalised[row, col]
                if value >= 0.005:
                    axes.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                              color="white" if value > 0.5 else "black")
    figure.tight_layout()
    figure.savefig(path)
    return path


def plot_per_class_iou(iou: list[float], class_names: list[str], miou: float, path: Path) -> Path:
    """Horizontal bar chart of per-class IoU (absent classes drawn as empty bars marked n/a)."""
    k = len(iou)
    values = np.nan_to_num(np.asarray(iou, dtype=np.float64)) * 100.0
    figure = new_figure(7.0, min(max(2.5, 0.3 * k + 1.5), 24.0))
    axes = figure.add_subplot(1, 1, 1)
    positions = np.arange(k)
    axes.barh(positions, values, color="#4878d0")
    axes.set_yticks(positions)
    axes.set_yticklabels(class_names, fontsize=8 if k <= 20 else 5)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("IoU (%)")
    if not math.isnan(miou):
        axes.axvline(miou * 100.0, color="#d65f5f", linestyle="--", label=f"mIoU {miou * 100:.1f}")
        axes.legend(loc="lower right", fontsize=8)
    for position, value, raw in zip(positions, values, iou):
        axes.text(min(value + 1.0, 92.0), position, "n/a" if math.isnan(raw) else f"{value:.1f}",
                  va="center", fontsize=7)
    axes.set_title("per-class IoU")
    figure.tight_layout()
    figure.savefig(path)
    return path


def write_reports(metrics: SegmentationMetrics, out_dir: str | Path, class_names: list[str] | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write metrics.json, metrics.md, confusion_matrix.png and per_class_iou.png into `out_dir`.

    `extra` (checkpoint, dataset, mode...) is stored in the JSON under "run" and listed in the Markdown.
    Returns {"json", "markdown", "confusion_matrix", "per_class_iou"} -> path (without the two plots when
    matplotlib is not installed).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(class_names) if class_names is not None else list(metrics.class_names)
    if len(names) != len(metrics.iou):
        raise MetricsError(f"{len(names)} class names given for {len(metrics.iou)} classes")
    payload = metrics.to_dict()
    payload["class_names"] = names
    payload["per_class"] = {
        name: entry for name, entry in zip(names, metrics.to_dict()["per_class"].values())}
    if extra:
        payload["run"] = {key: (str(value) if isinstance(value, Path) else value) for key, value in extra.items()}
    paths = {
        "json": out / "metrics.json",
        "markdown": out / "metrics.md",
        "confusion_matrix": out / "confusion_matrix.png",
        "per_class_iou": out / "per_class_iou.png",
    }
    paths["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    paths["markdown"].write_text(_markdown(metrics, names, extra))
    if not plots_available():
        _log.warning(NO_PLOTS)
        del paths["confusion_matrix"], paths["per_class_iou"]
        return paths
    matrix = np.asarray(metrics.confusion_matrix, dtype=np.int64).reshape(len(names), len(names))
    plot_confusion_matrix(matrix, names, paths["confusion_matrix"])
    plot_per_class_iou(metrics.iou, names, metrics.miou, paths["per_class_iou"])
    return paths
