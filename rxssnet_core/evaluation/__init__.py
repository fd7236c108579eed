# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Evaluation: confusion-matrix metrics, test-time inference modes, reports and prediction export.

Imports are lazy: `metrics` and `report` need only numpy and matplotlib, so a deployment without torch (the
live `eval_node`) can score and report.
"""

from __future__ import annotations

import importlib
from typing import Any

# The test-time inference modes (`rxssnet eval --mode`, `val.mode` of a training config): defined here, where
# importing costs nothing, because the torch-free option parsers and config loader name them too.
INFERENCE_MODES = ("single", "multiscale", "sliding")

_LAZY = {
    "ConfusionMatrix": "metrics", "MetricsError": "metrics", "SegmentationMetrics": "metrics",
    "write_reports": "report",
    "accumulate_confusion": "evaluator", "evaluate_model": "evaluator",
    "infer": "inference_modes", "predict_multiscale": "inference_modes",
    "predict_single": "inference_modes", "predict_sliding": "inference_modes",
}

__all__ = sorted([*_LAZY, "INFERENCE_MODES"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"rxssnet_core.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rxssnet_core.evaluation' has no attribute {name!r}")
