# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Exact-stamp scoring, shared by the offline `rxssnet bag eval` and the live `eval_node`.

A prediction (labels image, (H, W) integer class ids) is scored against the ground-truth image whose header
stamp equals the RGB frame's stamp EXACTLY; either may arrive first (up to `max_pending` wait for their partner).
Scores accumulate in one `ConfusionMatrix`; `compute()` gives `SegmentationMetrics` (mIoU, per-class IoU, ...).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from rxssnet_core.evaluation.metrics import ConfusionMatrix, MetricsError
from rxssnet_ros.bag_tools.issues import IssueLog, format_stamp


@dataclass
class FrameScore:
    """Per-frame result: stamp, labelled pixels, correctly predicted pixels."""

    stamp_ns: int
    valid_pixels: int
    correct_pixels: int

    @property
    def pixel_accuracy(self) -> float:
        return self.correct_pixels / self.valid_pixels if self.valid_pixels else float("nan")


class ExactStampScorer:
    """Matches predicted label images with ground truth by EXACT header stamp and accumulates a ConfusionMatrix.

    Either side may arrive first; unmatched messages wait (at most `max_pending` per side, oldest discarded and
    counted). Ground-truth ids outside [0, K) other than `ignore_index` are not counted (and reported).
    `finish()` reports what stayed unmatched; `compute()` returns `SegmentationMetrics`.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: list[str] | None = None,
                 issues: IssueLog | None = None, max_pending: int | None = None,
                 gt_topic: str | None = None, prediction_topic: str | None = None) -> None:
        self.matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index, class_names=class_names)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.issues = issues if issues is not None else IssueLog()
        self.max_pending = max_pending
        self.gt_topic = gt_topic
        self.prediction_topic = prediction_topic
        self._predictions: OrderedDict[int, np.ndarray] = OrderedDict()
        self._ground_truth: OrderedDict[int, np.ndarray] = OrderedDict()
        self._done: set[int] = set()
        self.frames: list[FrameScore] = []

    @property
    def scored(self) -> int:
        return len(self.frames)

    def add_prediction(self, stamp_ns: int, labels: np.ndarray) -> bool:
        """Queue a prediction; scores it (returns True) when its ground truth is already there."""
        return self._add(int(stamp_ns), labels, self._predictions, self._ground_truth, "prediction")

    def add_ground_truth(self, stamp_ns: int, label: np.ndarray) -> bool:
        """Queue a ground-truth image; scores it (returns True) when its prediction is already there."""
        return self._add(int(stamp_ns), label, self._ground_truth, self._predictions, "ground-truth")

    def _add(self, stamp: int, array: np.ndarray, mine: OrderedDict[int, np.ndarray],
             theirs: OrderedDict[int, np.ndarray], side: str) -> bool:
        if stamp in mine or (stamp in self._done and stamp not in theirs):
            self.issues.add("duplicate_stamp", None, side, format_stamp(stamp))
            return False
        if stamp in theirs:
            other = theirs.pop(stamp)
            prediction, gt = (array, other) if side == "prediction" else (other, array)
            self._score(stamp, prediction, gt)
            return True
        mine[stamp] = array
        if self.max_pending is not None and len(mine) > self.max_pending:
            old, _ = mine.popitem(last=False)
            self.issues.add("pending_overflow", None, side, format_stamp(old))
        return False

    def _score(self, stamp: int, prediction: np.ndarray, gt: np.ndarray) -> None:
        self._done.add(stamp)
        if prediction.shape != gt.shape:
            self.issues.add("size_mismatch", self.gt_topic,
                            f"prediction {prediction.shape[1]}x{prediction.shape[0]}, ground truth "
                            f"{gt.shape[1]}x{gt.shape[0]} (WxH)", format_stamp(stamp))
            return
        k = self.num_classes
        gt64 = gt.astype(np.int64, copy=False)
        outside = (gt64 >= k) & (gt64 != self.ignore_index)
        if outside.any():
            ids = sorted({int(v) for v in np.unique(gt64[outside])})
            self.issues.add("gt_out_of_range", self.gt_topic, f"K={k}, ignore_index={self.ignore_index}",
                            f"{format_stamp(stamp)}: ids {ids[:8]}")
        try:
            self.matrix.update(prediction, gt)
        except MetricsError as error:
            self.issues.add("prediction_out_of_range", self.prediction_topic, str(error), format_stamp(stamp))
            return
        valid = (gt64 >= 0) & (gt64 < k) & (gt64 != self.ignore_index)
        correct = int(np.count_nonzero((prediction.astype(np.int64, copy=False) == gt64) & valid))
        self.frames.append(FrameScore(stamp, int(np.count_nonzero(valid)), correct))

    def finish(self, frame_stamps: set[int] | None = None) -> None:
        """Reports what never found its partner (once; later calls add nothing). With `frame_stamps` (every RGB
        stamp seen), unmatched ground truth is split into "its frame was not segmented" and "no such frame".
        """
        for stamp in self._predictions:
            self.issues.add("no_gt", self.gt_topic, "", format_stamp(stamp))
        for stamp in self._ground_truth:
            kind = "gt_unused" if frame_stamps is None else (
                "gt_frame_unsegmented" if stamp in frame_stamps else "gt_no_frame")
            self.issues.add(kind, self.gt_topic, "", format_stamp(stamp))
        self._predictions.clear()
        self._ground_truth.clear()

    def pending(self) -> tuple[int, int]:
        """(predictions, ground-truth images) waiting for their partner."""
        return len(self._predictions), len(self._ground_truth)

    def compute(self) -> Any:
        return self.matrix.compute()
