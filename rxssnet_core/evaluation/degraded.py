# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Score one model in every degraded mode beside its fused score: one table (degraded_modes.md / .json).

Rows (`MODE_ROWS`): fused (both inputs intact), then every kind of `rxssnet_core.degradation` (x_missing,
x_blank, x_noise, x_shift, rgb_missing) applied to every test input. Columns: mIoU, its change from fused (points),
pixel accuracy and per-class IoU. The strengths of the corrupting kinds (noise std, shift in pixels) are in the
report. `rxssnet eval --degraded-modes` writes it; the ROS-free parts (table, JSON) need only numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rxssnet_core.degradation import DEGRADATIONS, DegradationParams, trained_for_failures
from rxssnet_core.errors import UsageError
from rxssnet_core.evaluation.metrics import SegmentationMetrics

FUSED = "fused"
MODE_ROWS = (FUSED, *DEGRADATIONS)
# What each row stands for on a robot, for the report's readers.
MODE_MEANING = {
    FUSED: "both cameras",
    "x_missing": "X camera failed (node mode rgb_only: neutral X)",
    "x_blank": "X camera publishes zeros",
    "x_noise": "X noisy (Gaussian, std {noise_std:g} normalised units)",
    "x_shift": "X shifted by {shift_px} px (bad extrinsic calibration)",
    "rgb_missing": "RGB black (night; node mode x_only)",
}
REPORT_STEM = "degraded_modes"


def evaluate_degraded_modes(model: Any, dataset: Any, params: DegradationParams | None = None,
                            modes: tuple[str, ...] = MODE_ROWS, **evaluate_options: Any
                            ) -> dict[str, SegmentationMetrics]:
    """{mode: metrics} of `model` on `dataset` for each of `modes` (fused and/or degradation kinds), in order.

    evaluate_options go to `evaluator.evaluate_model` (mode, scales, flip, window, stride, device, ...).
    """
    from rxssnet_core.evaluation.evaluator import evaluate_model  # torch: only this function needs it

    params = params or DegradationParams()
    unknown = [mode for mode in modes if mode not in MODE_ROWS]
    if unknown:
        raise UsageError(f"degraded mode(s) {unknown} are unknown; choose from {', '.join(MODE_ROWS)}")
    return {mode: evaluate_model(model, dataset, degradation=None if mode == FUSED else mode,
                                 degradation_params=params, **evaluate_options)
            for mode in modes}


def _percent(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value * 100:.2f}"


def describe_mode(mode: str, params: DegradationParams) -> str:
    """The report's plain-words meaning of a row."""
    return MODE_MEANING[mode].format(noise_std=params.noise_std, shift_px=params.shift_px)


def degraded_table(results: Mapping[str, SegmentationMetrics], class_names: list[str],
                   params: DegradationParams) -> str:
    """Markdown table: one row per mode, mIoU, change from fused (points), pixel accuracy, per-class IoU."""
    fused = results.get(FUSED)
    header = ["mode", "meaning", "mIoU (%)", "vs fused (points)", "pixel acc (%)"] + [f"{n} IoU (%)"
                                                                                      for n in class_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for mode, metrics in results.items():
        delta = "" if fused is None or mode == FUSED else f"{(metrics.miou - fused.miou) * 100:+.2f}"
        cells = [f"**{mode}**" if mode == FUSED else mode, describe_mode(mode, params), _percent(metrics.miou),
                 delta or "-", _percent(metrics.pixel_accuracy)] + [_percent(v) for v in metrics.iou]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_degraded_report(results: Mapping[str, SegmentationMetrics], out_dir: str | Path, class_names: list[str],
                          params: DegradationParams, extra: dict[str, Any] | None = None,
                          model_metadata: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Writes degraded_modes.md and degraded_modes.json into `out_dir`; returns {"markdown", "json"} -> path.
    `model_metadata` (the checkpoint's) says how the model was trained for failed cameras.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = {key: (str(value) if isinstance(value, Path) else value) for key, value in (extra or {}).items()}
    run["modality dropout in training"] = trained_for_failures(model_metadata)
    run.update({"noise_std": params.noise_std, "shift_px": params.shift_px})
    fused = results.get(FUSED)
    payload = {"run": run, "class_names": list(class_names), "modes": {
        mode: {"meaning": describe_mode(mode, params),
               "miou_change_vs_fused": None if fused is None or mode == FUSED else metrics.miou - fused.miou,
               **metrics.to_dict()}
        for mode, metrics in results.items()}}
    lines = ["# Evaluation in degraded modes", "",
             "The same model scored with both inputs, then with every input degradation of "
             "`rxssnet_core.degradation` applied to every image (what the ROS node feeds in its degraded modes).",
             ""] + [f"- {key}: `{value}`" for key, value in run.items()] + ["", degraded_table(results, class_names,
                                                                                               params)]
    paths = {"markdown": out / f"{REPORT_STEM}.md", "json": out / f"{REPORT_STEM}.json"}
    paths["markdown"].write_text("\n".join(lines))
    paths["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return paths
