"""Evaluation: confusion-matrix metrics, test-time inference modes, reports and prediction export."""

from rxssnet_core.evaluation.evaluator import accumulate_confusion, evaluate_model
from rxssnet_core.evaluation.inference_modes import (
    MODES,
    infer,
    predict_multiscale,
    predict_single,
    predict_sliding,
)
from rxssnet_core.evaluation.metrics import ConfusionMatrix, MetricsError, SegmentationMetrics
from rxssnet_core.evaluation.report import write_reports

__all__ = [
    "MODES",
    "ConfusionMatrix",
    "MetricsError",
    "SegmentationMetrics",
    "accumulate_confusion",
    "evaluate_model",
    "infer",
    "predict_multiscale",
    "predict_single",
    "predict_sliding",
    "write_reports",
]
