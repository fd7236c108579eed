# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Confusion-matrix metrics and report files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rxssnet_core.evaluation.metrics import ConfusionMatrix, MetricsError
from rxssnet_core.evaluation.report import write_reports


def _example() -> tuple[np.ndarray, np.ndarray]:
    gt = np.array([[0, 0, 1, 1],
                   [0, 2, 1, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1],
                     [0, 2, 2, 3]], dtype=np.int64)
    return pred, gt


def test_matrix_counts_rows_gt_and_skips_ignore() -> None:
    pred, gt = _example()
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = 2
    expected[0, 1] = 1
    expected[1, 1] = 2
    expected[1, 2] = 1
    expected[2, 2] = 1
    assert cm.matrix.dtype == np.int64
    np.testing.assert_array_equal(cm.matrix, expected)  # the 255 pixel (predicted 3) is not counted


def test_compute_iou_nanmean_and_accuracies() -> None:
    pred, gt = _example()
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    m = cm.compute()
    # IoU: class 0: 2/(3+2-2)=2/3; class 1: 2/(3+3-2)=1/2; class 2: 1/(1+2-1)=1/2; class 3: absent -> NaN.
    assert m.iou[:3] == pytest.approx([2 / 3, 1 / 2, 1 / 2])
    assert math.isnan(m.iou[3])
    assert m.miou == pytest.approx((2 / 3 + 1 / 2 + 1 / 2) / 3)
    assert m.pixel_accuracy == pytest.approx(5 / 7)
    assert m.mean_accuracy == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m.num_pixels == 7
    data = m.to_dict()
    assert data["iou"][3] is None and data["per_class"]["class_3"]["iou"] is None
    json.dumps(data)  # JSON-ready: no NaN


def test_class_predicted_but_absent_from_gt_counts_as_zero_iou() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 2]), np.array([0, 0]))
    m = cm.compute()
    assert m.iou[0] == pytest.approx(0.5)
    assert m.iou[2] == 0.0  # predicted but never in GT: present, IoU 0 (reference behaviour)
    assert math.isnan(m.iou[1])
    assert m.miou == pytest.approx(0.25)


def test_torch_and_numpy_inputs_agree_and_merge_adds() -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 5, size=(2, 16, 16)).astype(np.int64)
    gt[0, :3] = 255
    pred = rng.integers(0, 5, size=(2, 16, 16))
    a, b = ConfusionMatrix(5), ConfusionMatrix(5)
    a.update(pred, gt)
    b.update(torch.from_numpy(pred), torch.from_numpy(gt))
    np.testing.assert_array_equal(a.matrix, b.matrix)
    halves = ConfusionMatrix(5)
    halves.update(pred[:1], gt[:1])
    other = ConfusionMatrix(5)
    other.update(pred[1:], gt[1:])
    np.testing.assert_array_equal(halves.merge(other).matrix, a.matrix)
    assert a.matrix.sum() == (gt != 255).sum()


def test_bad_inputs_raise_clear_errors() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(MetricsError, match="shape"):
        cm.update(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(MetricsError, match="outside"):
        cm.update(np.full((2, 2), 7), np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(MetricsError, match="integer"):
        cm.update(np.zeros((2, 2), dtype=np.float32), np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(MetricsError, match="merge"):
        cm.merge(ConfusionMatrix(4))
    with pytest.raises(MetricsError, match="num_classes"):
        ConfusionMatrix(0)


def test_write_reports_files(tmp_path) -> None:
    import cv2

    pred, gt = _example()
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    names = ["road", "car", "person", "bike"]
    paths = write_reports(cm.compute(), tmp_path / "out", names, extra={"checkpoint": "x.safetensors"})
    assert set(paths) == {"json", "markdown", "confusion_matrix", "per_class_iou"}
    data = json.loads(paths["json"].read_text())
    assert data["miou"] == pytest.approx((2 / 3 + 1 / 2 + 1 / 2) / 3)
    assert data["class_names"] == names and data["per_class"]["bike"]["iou"] is None
    assert data["confusion_matrix"][0] == [2, 1, 0, 0]
    assert data["run"]["checkpoint"] == "x.safetensors"
    markdown = paths["markdown"].read_text()
    assert "| car | 50.00 |" in markdown and "| bike | n/a |" in markdown
    for key in ("confusion_matrix", "per_class_iou"):
        image = cv2.imread(str(paths[key]))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 5  # something was drawn


def test_reports_without_matplotlib_keep_the_metrics_and_say_how_to_get_plots(tmp_path, monkeypatch, caplog) -> None:
    """A headless robot's install has no matplotlib (requirements/train.txt): metrics.json and metrics.md only."""
    from rxssnet_core.evaluation import report

    monkeypatch.setattr(report, "plots_available", lambda: False)
    pred, gt = _example()
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    with caplog.at_level("WARNING"):
        paths = write_reports(cm.compute(), tmp_path, ["road", "car", "person", "bike"])
    assert set(paths) == {"json", "markdown"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json", "metrics.md"]
    assert "pip install -r requirements/train.txt" in caplog.text
