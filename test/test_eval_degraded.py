# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet eval --degraded-modes`: one table of the fused score beside every degraded mode, on the fusion model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rxssnet_core.cli import main
from rxssnet_core.data.synthetic import PAINTED_MARKER, WARM_PERSON
from rxssnet_core.degradation import DEGRADATIONS, DegradationParams, degraded_mode_warning, trained_for_failures
from rxssnet_core.evaluation.degraded import FUSED, MODE_ROWS, degraded_table
from rxssnet_core.evaluation.metrics import ConfusionMatrix
from rxssnet_core.training import load_train_config

FUSION_RECIPE = Path(__file__).resolve().parents[1] / "config" / "train" / "synthetic_fusion.yaml"


def test_table_has_one_row_per_mode_with_the_change_from_fused() -> None:
    names = ["background", "thing"]
    perfect, half = ConfusionMatrix(2, class_names=names), ConfusionMatrix(2, class_names=names)
    perfect.matrix[:] = [[10, 0], [0, 10]]
    half.matrix[:] = [[10, 0], [10, 0]]  # every "thing" pixel predicted as background
    table = degraded_table({FUSED: perfect.compute(), "x_shift": half.compute()}, names, DegradationParams(shift_px=3))
    rows = table.strip().splitlines()
    assert len(rows) == 4  # header, rule, two modes
    assert rows[2].startswith("| **fused** |") and "| 100.00 | - |" in rows[2]
    # background IoU 10/20, thing 0 -> mIoU 25 %: 75 points below fused; the shift is named in the row.
    assert "shifted by 3 px" in rows[3] and "| 25.00 | -75.00 |" in rows[3]


def test_the_report_says_how_the_model_was_trained_for_failed_cameras() -> None:
    recipe = {"modality_dropout": {"x_rate": 0.3, "rgb_rate": 0.0, "x_kinds": ["x_missing", "x_shift"],
                                   "rgb_kinds": ["rgb_missing"]}}
    assert trained_for_failures({"recipe": recipe}) == "X 30 % (x_missing, x_shift)"
    recipe["modality_dropout"]["x_rate"] = 0.0
    assert trained_for_failures({"recipe": recipe}) == "off (the paper's recipe)"
    for metadata in (None, {}, {"recipe": "garbage"}):
        assert trained_for_failures(metadata).startswith("not recorded")


def test_a_node_serving_degraded_modes_warns_about_a_model_not_trained_for_them() -> None:
    paper = {"recipe": {"modality_dropout": {"x_rate": 0.0, "rgb_rate": 0.0}}}
    ours = {"recipe": {"modality_dropout": {"x_rate": 0.25, "rgb_rate": 0.0}}}
    warning = degraded_mode_warning(paper, serves_degraded_modes=True)
    assert warning is not None and "without modality dropout" in warning and "train.modality_dropout" in warning
    assert degraded_mode_warning(paper, serves_degraded_modes=False) is None  # drop policies: nothing served
    assert degraded_mode_warning(ours, serves_degraded_modes=True) is None
    assert degraded_mode_warning({}, serves_degraded_modes=True) is None  # unknown: no claim either way


@pytest.mark.slow
def test_eval_degraded_modes_on_the_fusion_model(fusion_model, tmp_path, capsys) -> None:
    out = tmp_path / "eval"
    code = main(["eval", "--checkpoint", str(fusion_model.checkpoint), "--dataset", "synthetic_fusion", "--root",
                 str(fusion_model.dataset_root), "--split", "test", "--device", "cpu", "--out", str(out),
                 "--degraded-modes", "--noise-std", "0.8", "--shift-px", "12"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    report = json.loads((out / "degraded_modes.json").read_text())
    assert list(report["modes"]) == list(MODE_ROWS) == [FUSED, *DEGRADATIONS]
    assert report["run"]["noise_std"] == 0.8 and report["run"]["shift_px"] == 12
    modes = report["modes"]
    # The fused row is the plain evaluation's score, in the same run.
    assert modes[FUSED]["miou"] == pytest.approx(json.loads((out / "metrics.json").read_text())["miou"])
    for mode in DEGRADATIONS:
        assert modes[mode]["miou_change_vs_fused"] == pytest.approx(modes[mode]["miou"] - modes[FUSED]["miou"])
        assert modes[mode]["num_pixels"] == modes[FUSED]["num_pixels"]
    # Each camera's loss takes the class only it sees; the corrupted X costs something but is not a lost camera.
    assert modes["x_missing"]["iou"][WARM_PERSON] < 0.2 * modes[FUSED]["iou"][WARM_PERSON]
    assert modes["rgb_missing"]["iou"][PAINTED_MARKER] < 0.2 * modes[FUSED]["iou"][PAINTED_MARKER]
    assert modes["x_shift"]["miou"] < modes[FUSED]["miou"]
    assert modes["x_noise"]["confusion_matrix"] != modes[FUSED]["confusion_matrix"]
    markdown = (out / "degraded_modes.md").read_text()
    for mode in MODE_ROWS:
        assert f"| {mode} |" in markdown or f"| **{mode}** |" in markdown
    assert "shifted by 12 px" in markdown and "degraded modes:" in printed.out
    # The rates the model was trained with, from its checkpoint, beside the table
    dropout = load_train_config(FUSION_RECIPE).train.modality_dropout
    trained = report["run"]["modality dropout in training"]
    assert f"X {dropout.x_rate * 100:g} % (x_missing)" in trained and f"RGB {dropout.rgb_rate * 100:g} %" in trained
    assert trained in markdown


def test_eval_degraded_modes_rejects_bad_flags(tmp_path, capsys) -> None:
    args = ["eval", "--checkpoint", str(tmp_path / "none.safetensors"), "--dataset", "synthetic_fusion", "--root",
            str(tmp_path), "--out", str(tmp_path / "out"), "--degraded-modes"]
    assert main([*args, "--shift-px", "-2"]) == 2
    assert "--shift-px" in capsys.readouterr().err
    assert main([*args, "--neutral-x"]) == 2
    assert "--neutral-x and --degraded-modes" in capsys.readouterr().err
