# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Inference modes, evaluate_model, `rxssnet eval` and `rxssnet predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rxssnet_core.cli import main
from rxssnet_core.evaluation.evaluator import evaluate_model
from rxssnet_core.evaluation.inference_modes import (
    InferenceModeError,
    predict_multiscale,
    predict_single,
    predict_sliding,
)
from rxssnet_core.evaluation.predict import save_prediction


class PointwiseNet(nn.Module):
    """A 1x1-conv "segmenter": translation-equivariant and flip-equivariant, so tiling and mirroring must not
    change its logits at all; records the last X it saw."""

    def __init__(self, num_classes: int = 4, x_channels: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Conv2d(3 + x_channels, num_classes, 1)
        self.last_x: torch.Tensor | None = None

    def forward(self, rgb: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.last_x = x
        return self.head(torch.cat([rgb, x], dim=1))


def test_sliding_window_tiles_cover_and_average_exactly() -> None:
    model = PointwiseNet()
    rgb, x = torch.randn(2, 3, 37, 53), torch.randn(2, 3, 37, 53)
    single = predict_single(model, rgb, x)
    for window, stride in (((16, 16), (8, 8)), ((16, 24), (16, 24)), ((20, 31), (7, 5)), ((64, 64), None)):
        tiled = predict_sliding(model, rgb, x, window=window, stride=stride)
        assert tiled.shape == single.shape
        torch.testing.assert_close(tiled, single, rtol=0, atol=1e-5)
    with pytest.raises(InferenceModeError, match="stride"):
        predict_sliding(model, rgb, x, window=(16, 16), stride=(32, 8))


def test_flip_and_multiscale_average() -> None:
    model = PointwiseNet()
    rgb, x = torch.randn(1, 3, 24, 32), torch.randn(1, 3, 24, 32)
    single = predict_single(model, rgb, x)
    torch.testing.assert_close(predict_single(model, rgb, x, flip=True), single, rtol=0, atol=1e-5)
    one = predict_multiscale(model, rgb, x, scales=[1.0], flip=False)
    torch.testing.assert_close(one, single.log_softmax(dim=1), rtol=0, atol=1e-5)
    multi = predict_multiscale(model, rgb, x, scales=[0.5, 1.0, 1.5], flip=True)
    assert multi.shape == single.shape
    torch.testing.assert_close(multi.exp().sum(dim=1), torch.ones(1, 24, 32))  # averaged probabilities
    # A real RXSSNet is not scale-invariant: multi-scale must differ from single scale there.
    from rxssnet_core import ModelConfig, build_model

    torch.manual_seed(0)
    net = build_model(ModelConfig(variant="atto", num_classes=3, decoder_dim=32)).eval()
    rgb, x = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    base = predict_single(net, rgb, x).log_softmax(dim=1)
    assert (predict_multiscale(net, rgb, x, scales=[0.75, 1.0, 1.25]) - base).abs().max() > 1e-3


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rxssnet_core.data.synthetic import generate_fusion_dataset

    return generate_fusion_dataset(tmp_path_factory.mktemp("synthetic"), counts={"test": 3}, size=(64, 64),
                                   seed=5, progress=False)


@pytest.fixture(scope="module")
def synthetic_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained atto RXSSNet for the 4 synthetic classes, saved with dataset metadata."""
    from rxssnet_core import ModelConfig, build_model, save_model
    from rxssnet_core.data import DATASETS

    info = DATASETS["synthetic_fusion"]
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=info.num_classes, decoder_dim=32)).eval()
    path = tmp_path_factory.mktemp("ckpt") / "synthetic.safetensors"
    save_model(model, path, metadata={"preprocess": info.preprocess.to_dict(), "class_names": info.class_names,
                                      "palette": info.palette, "dataset": info.name})
    return path


def test_evaluate_model_neutral_x_feeds_zeros(synthetic: Path) -> None:
    from rxssnet_core.data import build_dataset

    ds = build_dataset("synthetic_fusion", synthetic, "test")
    model = PointwiseNet(num_classes=4)
    real = evaluate_model(model, ds, progress=False)
    assert model.last_x is not None and model.last_x.abs().sum() > 0
    neutral = evaluate_model(model, ds, neutral_x=True, progress=False)
    assert model.last_x is not None and torch.count_nonzero(model.last_x) == 0
    labelled = sum(int((ds[i]["label"] != 255).sum()) for i in range(len(ds)))
    assert real.num_pixels == neutral.num_pixels == labelled
    assert real.confusion_matrix != neutral.confusion_matrix


def test_eval_cli_writes_reports(synthetic: Path, synthetic_checkpoint: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    import cv2

    out = tmp_path / "single"
    code = main(["eval", "--checkpoint", str(synthetic_checkpoint), "--dataset", "synthetic_fusion", "--root",
                 str(synthetic), "--split", "test", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "metrics.json").read_text())
    assert len(data["iou"]) == 4 and 0.0 <= data["miou"] <= 1.0
    assert data["class_names"][2] == "warm_person" and data["run"]["mode"] == "single"
    matrix = np.array(data["confusion_matrix"])
    assert matrix.sum() == data["num_pixels"] == 3 * 64 * 64
    assert data["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert "mIoU" in (out / "metrics.md").read_text()
    for name in ("confusion_matrix.png", "per_class_iou.png"):
        assert cv2.imread(str(out / name)) is not None
    sliding = tmp_path / "sliding"
    code = main(["eval", "--checkpoint", str(synthetic_checkpoint), "--dataset", "synthetic_fusion", "--root",
                 str(synthetic), "--mode", "sliding", "--window", "64", "64", "--out", str(sliding)])
    assert code == 0
    # A window as large as the image is the single-scale protocol.
    assert json.loads((sliding / "metrics.json").read_text())["confusion_matrix"] == data["confusion_matrix"]
    code = main(["eval", "--checkpoint", str(synthetic_checkpoint), "--dataset", "synthetic_fusion", "--root",
                 str(synthetic), "--mode", "multiscale", "--scales", "0.75", "1", "--flip",
                 "--out", str(tmp_path / "ms")])
    assert code == 0 and json.loads((tmp_path / "ms" / "metrics.json").read_text())["run"]["scales"] == [0.75, 1]


def test_eval_cli_errors(synthetic: Path, synthetic_checkpoint: Path, tiny_checkpoint: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture) -> None:
    code = main(["eval", "--checkpoint", str(tiny_checkpoint), "--dataset", "synthetic_fusion", "--root",
                 str(synthetic), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "5 classes" in err and "Traceback" not in err  # a 5-class model on a 4-class set
    code = main(["eval", "--checkpoint", str(tmp_path / "nope.safetensors"), "--dataset", "synthetic_fusion",
                 "--root", str(synthetic), "--out", str(tmp_path)])
    assert code == 2 and "nope.safetensors" in capsys.readouterr().err
    code = main(["eval", "--checkpoint", str(synthetic_checkpoint), "--dataset", "synthetic_fusion",
                 "--root", str(synthetic), "--split", "val", "--out", str(tmp_path)])
    assert code == 2 and "val" in capsys.readouterr().err


def test_predict_cli_dataset_and_files(synthetic: Path, synthetic_checkpoint: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    import cv2

    from rxssnet_core import load_model
    from rxssnet_core.data import build_dataset

    out = tmp_path / "pred"
    code = main(["predict", "--checkpoint", str(synthetic_checkpoint), "--dataset", "synthetic_fusion", "--root",
                 str(synthetic), "--split", "test", "--out", str(out), "--alpha", "0.4"])
    assert code == 0, capsys.readouterr().err
    ds = build_dataset("synthetic_fusion", synthetic, "test")
    model = load_model(synthetic_checkpoint)
    sample = ds[0]
    expected = predict_single(model.eval(), sample["rgb"][None], sample["x"][None]).argmax(1)[0].numpy()
    labels = cv2.imread(str(out / f"{sample['stem']}_label.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.shape == (64, 64)
    np.testing.assert_array_equal(labels, expected)
    overlay = cv2.imread(str(out / f"{sample['stem']}_overlay.png"))[:, :, ::-1]
    rgb = ds.read_raw(0).rgb.astype(np.float32)
    palette = np.array(ds.info.palette, dtype=np.float32)
    blend = np.clip(rgb * 0.6 + palette[expected] * 0.4 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(overlay.astype(int) - blend.astype(int)).max() <= 1
    assert len(list(out.glob("*_label.png"))) == 3

    files = tmp_path / "files"
    code = main(["predict", "--checkpoint", str(synthetic_checkpoint), "--rgb", str(synthetic / "rgb" /
                 f"{sample['stem']}.png"), "--x", str(synthetic / "x" / f"{sample['stem']}.png"),
                 "--out", str(files)])
    assert code == 0
    np.testing.assert_array_equal(cv2.imread(str(files / f"{sample['stem']}_label.png"), cv2.IMREAD_UNCHANGED),
                                  expected)


def test_predict_cli_errors(synthetic: Path, synthetic_checkpoint: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture) -> None:
    rgb = synthetic / "rgb" / "test_0000.png"
    code = main(["predict", "--checkpoint", str(synthetic_checkpoint), "--rgb", str(rgb), "--x",
                 str(tmp_path / "missing_x.png"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "missing_x.png" in err and "Traceback" not in err
    code = main(["predict", "--checkpoint", str(synthetic_checkpoint), "--rgb", str(rgb), "--dataset",
                 "synthetic_fusion", "--out", str(tmp_path)])
    assert code == 2 and "either" in capsys.readouterr().err
    small = tmp_path / "small_x.png"
    import cv2

    cv2.imwrite(str(small), np.zeros((10, 12), dtype=np.uint8))
    code = main(["predict", "--checkpoint", str(synthetic_checkpoint), "--rgb", str(rgb), "--x", str(small),
                 "--out", str(tmp_path)])
    assert code == 2 and "small_x.png" in capsys.readouterr().err


def test_label_png_is_uint16_above_255_classes(tmp_path: Path) -> None:
    import cv2

    from rxssnet_core.visualization import voc_palette

    labels = np.arange(300 * 4).reshape(30, 40) % 300
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    paths = save_prediction(tmp_path, "big", labels, rgb, voc_palette(300), num_classes=300)
    read = cv2.imread(str(paths["label"]), cv2.IMREAD_UNCHANGED)
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, labels)
    small = save_prediction(tmp_path, "small", labels % 9, rgb, voc_palette(9), num_classes=9)
    assert cv2.imread(str(small["label"]), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_eval_and_predict_score_the_deployed_backend_through_the_frame_pipeline(
        synthetic: Path, synthetic_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--backend onnxruntime` scores the exported graph (argmax inside it) the way the node runs it; on the same
    images it must agree with the torch model's labels, and the test-time modes refuse a non-torch backend."""
    import cv2

    pytest.importorskip("onnxruntime")
    args = ["--checkpoint", str(synthetic_checkpoint), "--dataset", "synthetic_fusion", "--root", str(synthetic)]
    code = main(["eval", *args, "--out", str(tmp_path / "torch")])
    assert code == 0, capsys.readouterr().err
    code = main(["eval", *args, "--backend", "onnxruntime", "--out", str(tmp_path / "ort")])
    assert code == 0, capsys.readouterr().err
    torch_run = json.loads((tmp_path / "torch" / "metrics.json").read_text())
    ort_run = json.loads((tmp_path / "ort" / "metrics.json").read_text())
    assert ort_run["run"]["backend"] == "onnxruntime" and torch_run["run"]["backend"] == "torch"
    assert ort_run["num_pixels"] == torch_run["num_pixels"] == 3 * 64 * 64
    assert abs(ort_run["miou"] - torch_run["miou"]) < 0.01

    code = main(["predict", *args, "--backend", "onnxruntime", "--out", str(tmp_path / "pred")])
    assert code == 0, capsys.readouterr().err
    from rxssnet_core import load_model
    from rxssnet_core.data import build_dataset

    ds, model = build_dataset("synthetic_fusion", synthetic, "test"), load_model(synthetic_checkpoint).eval()
    agree = []
    for index in range(len(ds)):
        sample = ds[index]
        expected = predict_single(model, sample["rgb"][None], sample["x"][None]).argmax(1)[0].numpy()
        written = cv2.imread(str(tmp_path / "pred" / f"{sample['stem']}_label.png"), cv2.IMREAD_UNCHANGED)
        agree.append(np.mean(written == expected))
    assert min(agree) >= 0.99

    code = main(["eval", *args, "--mode", "sliding", "--backend", "onnxruntime", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--mode single" in err and "Traceback" not in err
