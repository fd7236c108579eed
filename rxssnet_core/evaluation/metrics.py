# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Segmentation metrics from a confusion matrix (the reference evaluation protocol).

IoU_c = TP / (TP + FP + FN); classes absent from both ground truth and prediction get NaN and are skipped by
the mean, so mIoU is the nanmean over every class that appears (background included, as the reference does).
Ground-truth pixels outside [0, K) (the 255 ignore label) are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rxssnet_core.errors import RXSSNetError


class MetricsError(RXSSNetError, ValueError):
    """Predictions and labels cannot be compared (shape, class count); the message says which."""


def _to_numpy(array: Any, name: str) -> np.ndarray:
    if hasattr(array, "detach"):  # torch.Tensor, without importing torch here
        array = array.detach().cpu().numpy()
    if not isinstance(array, np.ndarray):
        raise MetricsError(f"{name} must be a numpy array or torch tensor, got {type(array).__name__}")
    if array.dtype.kind not in "iu":
        raise MetricsError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    return array


def _nan_to_none(values: list[float]) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values]


@dataclass
class SegmentationMetrics:
    """Scores of one evaluation.

    miou: nanmean of `iou`. iou: per-class IoU (NaN where the class is in neither GT nor prediction).
    pixel_accuracy: correct / labelled pixels. mean_accuracy: nanmean of per-class recall (`class_accuracy`, NaN
    for classes absent from GT). fwiou: frequency-weighted IoU (the reference prints it). confusion_matrix:
    (K, K) counts, rows = ground truth, columns = prediction.
    """

    miou: float
    iou: list[float]
    pixel_accuracy: float
    mean_accuracy: float
    class_names: list[str]
    class_accuracy: list[float] = field(default_factory=list)
    fwiou: float = float("nan")
    num_pixels: int = 0
    confusion_matrix: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes None."""
        return {
            "miou": None if math.isnan(self.miou) else self.miou,
            "pixel_accuracy": None if math.isnan(self.pixel_accuracy) else self.pixel_accuracy,
            "mean_accuracy": None if math.isnan(self.mean_accuracy) else self.mean_accuracy,
            "fwiou": None if math.isnan(self.fwiou) else self.fwiou,
            "num_pixels": self.num_pixels,
            "class_names": list(self.class_names),
            "iou": _nan_to_none(self.iou),
            "class_accuracy": _nan_to_none(self.class_accuracy),
            "per_class": {
                name: {"iou": _nan_to_none([iou])[0], "accuracy": _nan_to_none([acc])[0]}
                for name, iou, acc in zip(self.class_names, self.iou, self.class_accuracy)
            },
            "confusion_matrix": [list(map(int, row)) for row in self.confusion_matrix],
        }


class ConfusionMatrix:
    """Accumulates a (K, K) int64 confusion matrix (rows = ground truth, columns = prediction).

    `update(pred, gt)` takes integer arrays or tensors of the same shape; GT values outside [0, K) are ignored
    (so `ignore_index` is too), predictions must lie in [0, K).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: list[str] | None = None) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise MetricsError(f"num_classes={num_classes!r} must be a positive integer")
        if class_names is not None and len(class_names) != num_classes:
            raise MetricsError(f"{len(class_names)} class names given for num_classes={num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names is not None else [
            f"class_{i}" for i in range(num_classes)]
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, pred: Any, gt: Any) -> None:
        """Add one batch: `pred` and `gt` integer arrays of identical shape, e.g. (H, W) or (B, H, W)."""
        if hasattr(pred, "detach") and hasattr(gt, "detach") and pred.device == gt.device:
            self._update_torch(pred, gt)
            return
        pred_np, gt_np = _to_numpy(pred, "prediction"), _to_numpy(gt, "ground truth")
        if pred_np.shape != gt_np.shape:
            raise MetricsError(f"prediction shape {pred_np.shape} differs from ground truth shape {gt_np.shape}")
        k = self.num_classes
        gt_flat = gt_np.reshape(-1).astype(np.int64)
        pred_flat = pred_np.reshape(-1).astype(np.int64)
        valid = (gt_flat >= 0) & (gt_flat < k) & (gt_flat != self.ignore_index)
        pred_valid = pred_flat[valid]
        if pred_valid.size and (pred_valid.min() < 0 or pred_valid.max() >= k):
            raise MetricsError(
                f"prediction holds class {int(pred_valid.min())}..{int(pred_valid.max())}, outside [0, {k})")
        counts = np.bincount(gt_flat[valid] * k + pred_valid, minlength=k * k)
        self.matrix += counts.reshape(k, k)

    def _update_torch(self, pred: Any, gt: Any) -> None:
        # torch: only torch tensors come here (bag eval and the node score numpy without torch). Counting stays
        # on the tensors' device: GPU evaluation would otherwise copy every label map to the host.
        import torch

        if pred.shape != gt.shape:
            raise MetricsError(f"prediction shape {tuple(pred.shape)} differs from ground truth shape "
                               f"{tuple(gt.shape)}")
        if pred.is_floating_point() or gt.is_floating_point():
            raise MetricsError("prediction and ground truth must hold integer class indices, got floats")
        k = self.num_classes
        gt_flat = gt.reshape(-1).long()
        pred_flat = pred.reshape(-1).long()
        valid = (gt_flat >= 0) & (gt_flat < k) & (gt_flat != self.ignore_index)
        pred_valid = pred_flat[valid]
        if pred_valid.numel():
            low, high = int(pred_valid.min()), int(pred_valid.max())
            if low < 0 or high >= k:
                raise MetricsError(f"prediction holds class {low}..{high}, outside [0, {k})")
        counts = torch.bincount(gt_flat[valid] * k + pred_valid, minlength=k * k)
        self.matrix += counts.reshape(k, k).cpu().numpy().astype(np.int64)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts (e.g. from another process or shard); returns self."""
        if other.num_classes != self.num_classes:
            raise MetricsError(f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one")
        self.matrix += other.matrix
        return self

    def compute(self) -> SegmentationMetrics:
        """IoU, mIoU, pixel and mean accuracy from the accumulated counts."""
        matrix = self.matrix.astype(np.float64)
        tp = np.diag(matrix)
        gt_count = matrix.sum(axis=1)
        pred_count = matrix.sum(axis=0)
        union = gt_count + pred_count - tp
        total = matrix.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, tp / union, np.nan)
            class_acc = np.where(gt_count > 0, tp / gt_count, np.nan)
        present = ~np.isnan(iou)
        miou = float(iou[present].mean()) if present.any() else float("nan")
        has_gt = ~np.isnan(class_acc)
        mean_acc = float(class_acc[has_gt].mean()) if has_gt.any() else float("nan")
        pixel_acc = float(tp.sum() / total) if total > 0 else float("nan")
        fwiou = float(np.nansum(gt_count / total * np.nan_to_num(iou))) if total > 0 else float("nan")
        return SegmentationMetrics(
            miou=miou,
            iou=[float(v) for v in iou],
            pixel_accuracy=pixel_acc,
            mean_accuracy=mean_acc,
            class_names=list(self.class_names),
            class_accuracy=[float(v) for v in class_acc],
            fwiou=fwiou,
            num_pixels=int(total),
            confusion_matrix=self.matrix.tolist(),
        )
