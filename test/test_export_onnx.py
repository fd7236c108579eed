# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ONNX export: graph contract, parity with torch (fixed and dynamic sizes), the CLI, calibration image pairs."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import pathlib
from collections import Counter

import numpy as np
import onnx
import pytest

from rxssnet_core.calibration_images import find_image_pairs, read_image_pair
from rxssnet_core.cli import main as cli_main
from rxssnet_core.export import export_onnx, weights_sha256
from rxssnet_core.inference.artifacts import onnx_description as read_onnx_description
from rxssnet_core.onnx_precision import FP32_SCOPES, fp32_sensitive_node_names, in_fp32_scope


def rxssnet(*argv: str) -> int:
    return cli_main(list(argv))


@pytest.fixture(scope="module")
def model(tiny_checkpoint: pathlib.Path):
    from rxssnet_core import load_model

    return load_model(tiny_checkpoint)


@pytest.fixture(scope="module")
def fixed_onnx(model, tmp_path_factory) -> pathlib.Path:
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "fixed.onnx", 480, 640, outputs="logits")


@pytest.fixture(scope="module")
def dynamic_onnx(tiny_checkpoint, tmp_path_factory) -> tuple[pathlib.Path, int, str]:
    """Exported by the CLI, which also checks parity at 480x640 and at a padded size."""
    out = tmp_path_factory.mktemp("onnx") / "dynamic.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = rxssnet("export", "--checkpoint", str(tiny_checkpoint), "--format", "onnx", "--out", str(out),
                       "--dynamic", "--opset", "17", "--outputs", "logits")
    print(printed.getvalue())
    return out, code, printed.getvalue()


def parity(model, onnx_path: pathlib.Path, batch: int, height: int, width: int) -> tuple[float, float]:
    """Max |logit difference| and argmax agreement of ONNX Runtime vs torch on realistic inputs."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # faster to load

    from rxssnet_core.preprocessing import PreprocessConfig, preprocess_pair

    rng = np.random.default_rng(height * width)
    config = PreprocessConfig.from_dict(model.metadata["preprocess"])
    pairs = [preprocess_pair(rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                             rng.integers(0, 256, (height, width), dtype=np.uint8), config) for _ in range(batch)]
    rgb, x = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    with torch.no_grad():
        expected = model(torch.from_numpy(rgb), torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"rgb": rgb, "x": x})[0]
    assert got.shape == expected.shape == (batch, 5, height, width)
    return float(np.abs(got - expected).max()), float((got.argmax(1) == expected.argmax(1)).mean())


def test_fixed_export_contract(fixed_onnx, model):
    import onnx

    proto = onnx.load(str(fixed_onnx))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"rgb": [1, 3, 480, 640], "x": [1, 3, 480, 640]}
    assert [o.name for o in proto.graph.output] == ["logits"]
    description = read_onnx_description(fixed_onnx)
    assert description["weights_sha256"] == weights_sha256(model)
    assert description["metadata"]["class_names"] == model.metadata["class_names"]
    assert description["model_config"]["variant"] == "atto"


def op_counts(path: pathlib.Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def test_fixed_export_holds_the_rope_tables_as_constants(fixed_onnx, dynamic_onnx):
    """An fp16 engine must never compute the RoPE angles (up to 19200 rad at 480x640, fp16 spacing 16 there)."""
    fixed, dynamic = op_counts(fixed_onnx), op_counts(dynamic_onnx[0])
    assert fixed["Range"] == fixed["Cos"] == fixed["Sin"] == 0, fixed
    # the dynamic graph computes them from the symbolic token count: proof that the count sees them at all
    assert dynamic["Cos"] > 0 and dynamic["Sin"] > 0


def test_fp32_sensitive_nodes_are_the_overflow_prone_reductions(fixed_onnx):
    """What a reduced-precision engine keeps in fp32: every LayerNorm and the reductions over all pixels/tokens."""
    nodes = onnx.load(str(fixed_onnx), load_external_data=False).graph.node
    listed = set(fp32_sensitive_node_names(fixed_onnx))
    by_type = lambda op, scope: {n.name for n in nodes if n.op_type == op and f"/{scope}" in n.name}  # noqa: E731
    layer_norms = {n.name for n in nodes if n.op_type == "LayerNormalization"}
    assert layer_norms and layer_norms <= listed
    assert by_type("ReduceSum", "grn") and by_type("ReduceSum", "grn") <= listed  # GRN: sum of x^2 over H*W
    assert by_type("MatMul", "channel_context") and by_type("MatMul", "channel_context") <= listed  # LAM k^T v
    assert by_type("MatMul", "attn") and by_type("MatMul", "attn") <= listed  # CGPI linear attention
    assert {scope for scope in FP32_SCOPES if any(f"/{scope}" in name for name in listed)} == set(FP32_SCOPES)
    # the bulk of the network (convolutions, the MLPs' matrix products) stays free to run in fp16; only the
    # linear attention's small depthwise LePE convolution rides along in the fp32 `attn` scope
    assert not any(n.name in listed for n in nodes if n.op_type == "Conv" and "/attn/" not in n.name)
    assert all(in_fp32_scope(name) or name in layer_norms for name in listed)
    assert len(listed) < len(nodes) / 3


def test_fixed_export_parity_480x640(fixed_onnx, model):
    max_diff, agreement = parity(model, fixed_onnx, 1, 480, 640)
    print(f"fixed 480x640: max |diff| {max_diff:.2e}, argmax agreement {agreement:.5f}")
    assert max_diff <= 1e-4 and agreement >= 0.999


def test_segmenter_on_a_fixed_size_file(fixed_onnx, tiny_checkpoint):
    from rxssnet_core.inference import Segmenter

    with pytest.raises(ValueError, match=r"fixed size \(480, 640\)"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", onnx_path=fixed_onnx, input_size=(64, 64))
    seg = Segmenter.from_checkpoint(None, backend="onnxruntime", onnx_path=fixed_onnx)
    assert seg.backend.fixed_size == (480, 640) and seg.network_size(40, 50) == (480, 640)
    rng = np.random.default_rng(2)
    result = seg.segment(rng.integers(0, 256, (40, 50, 3), np.uint8), rng.integers(0, 256, (40, 50), np.uint8))
    assert result.labels.shape == (40, 50) and int(result.labels.max()) < 5


def test_cli_dynamic_export_reports_parity(dynamic_onnx):
    path, code, printed = dynamic_onnx
    assert code == 0 and path.is_file()
    for size in ("480x640", "368x500"):
        line = next(line for line in printed.splitlines() if f"vs torch at {size}:" in line)
        assert line.endswith(" ok")


def test_dynamic_export_parity(dynamic_onnx, model):
    """Batch 2 at a size that needs padding (the CLI already checked 480x640 and 368x500)."""
    import onnx

    batch, height, width = 2, 360, 500
    path, _, _ = dynamic_onnx
    shape = [d.dim_param for d in onnx.load(str(path), load_external_data=False).graph.input[0]
             .type.tensor_type.shape.dim]
    assert shape == ["batch", "", "height", "width"]
    max_diff, agreement = parity(model, path, batch, height, width)
    print(f"dynamic {batch}x{height}x{width}: max |diff| {max_diff:.2e}, argmax agreement {agreement:.5f}")
    assert max_diff <= 1e-4 and agreement >= 0.999


@pytest.mark.slow
def test_tiny_variant_parity_480x640(tmp_path):
    """The paper's tiny variant (decoder 768), random weights: the export holds at full size."""
    import torch

    from rxssnet_core import ModelConfig, build_model
    from rxssnet_core.preprocessing import PreprocessConfig

    torch.manual_seed(0)
    tiny = build_model(ModelConfig(variant="tiny", num_classes=5)).eval()
    tiny.metadata = {"preprocess": PreprocessConfig().to_dict()}
    path = export_onnx(tiny, tmp_path / "tiny.onnx", 480, 640, outputs="logits")
    max_diff, agreement = parity(tiny, path, 1, 480, 640)
    print(f"tiny fixed 480x640: max |diff| {max_diff:.2e}, argmax agreement {agreement:.5f}")
    assert max_diff <= 1e-4 and agreement >= 0.999


def test_label_outputs_in_the_graph_equal_argmax_and_softmax_of_the_logits(model, tmp_path):
    """The default export does the post-processing in the graph: uint8 labels and float32 max-probability,
    equal to what numpy computes from the logits export of the same weights (dynamic size, batch 2)."""
    import onnx
    import onnxruntime as ort

    labels_path = export_onnx(model, tmp_path / "labels.onnx", 64, 96, dynamic=True)
    logits_path = export_onnx(model, tmp_path / "logits.onnx", 64, 96, dynamic=True, outputs="logits")
    proto = onnx.load(str(labels_path))
    outputs = {o.name: o.type.tensor_type.elem_type for o in proto.graph.output}
    assert outputs == {"labels": onnx.TensorProto.UINT8, "confidence": onnx.TensorProto.FLOAT}
    assert read_onnx_description(labels_path)["outputs"] == ["labels", "confidence"]

    rng = np.random.default_rng(3)
    feeds = {"rgb": rng.standard_normal((2, 3, 72, 100), dtype=np.float32),
             "x": rng.standard_normal((2, 3, 72, 100), dtype=np.float32)}
    labels, confidence = ort.InferenceSession(str(labels_path)).run(["labels", "confidence"], feeds)
    (logits,) = ort.InferenceSession(str(logits_path)).run(["logits"], feeds)
    assert labels.dtype == np.uint8 and labels.shape == (2, 72, 100)
    np.testing.assert_array_equal(labels, logits.argmax(1))
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(confidence, (softmax / softmax.sum(1, keepdims=True)).max(1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("argv", "message"), [
    (["--opset", "13"], "opset >= 17"),
    (["--precision", "int8"], "applies to --format tensorrt"),
    (["--format", "tensorrt", "--precision", "int8"], "needs --calibration-dir"),
    (["--height", "0"], "at least 32"),
])
def test_cli_rejects_bad_arguments(tiny_checkpoint, tmp_path, capsys, argv, message):
    code = rxssnet("export", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "m.onnx"), *argv)
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_cli_missing_checkpoint(tmp_path, capsys):
    assert rxssnet("export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")) == 2
    assert "none.pt" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_cli_tensorrt_without_tensorrt_says_what_to_install(tiny_checkpoint, tmp_path, capsys):
    code = rxssnet("export", "--checkpoint", str(tiny_checkpoint), "--format", "tensorrt",
                   "--out", str(tmp_path / "m.engine"))
    assert code == 2 and "pip install tensorrt" in capsys.readouterr().err


def test_export_help(capsys):
    with pytest.raises(SystemExit) as stop:
        rxssnet("export", "--help")
    assert stop.value.code == 0 and "--calibration-dir" in capsys.readouterr().out


# -- calibration image pairs -----------------------------------------------------------------------------------


def _write(path: pathlib.Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_calibration_pairs_generic_layout(tmp_path):
    red_bgr = np.zeros((8, 10, 3), np.uint8)
    red_bgr[..., 2] = 255  # OpenCV writes BGR: this file is pure red
    for name in ("b", "a"):
        _write(tmp_path / "RGB" / f"{name}.png", red_bgr)
        _write(tmp_path / "Thermal" / f"{name}.png", np.full((8, 10), 7, np.uint16))
    _write(tmp_path / "RGB" / "orphan.png", red_bgr)  # no X: skipped
    pairs = find_image_pairs(tmp_path)
    assert [(p[0].name, p[1].parent.name) for p in pairs] == [("a.png", "Thermal"), ("b.png", "Thermal")]
    rgb, x = read_image_pair(*pairs[0])
    assert rgb.dtype == np.uint8 and tuple(rgb[0, 0]) == (255, 0, 0)  # returned in RGB order
    assert x.dtype == np.uint16 and x.shape == (8, 10) and int(x[0, 0]) == 7


def test_calibration_pairs_side_by_side_and_rgba(tmp_path):
    _write(tmp_path / "pairs" / "001_rgb.png", np.zeros((4, 4, 3), np.uint8))
    _write(tmp_path / "pairs" / "001_th.png", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "pairs" / "002_rgb.png", np.zeros((4, 4, 3), np.uint8))
    assert [(a.name, b.name) for a, b in find_image_pairs(tmp_path / "pairs")] == [("001_rgb.png", "001_th.png")]

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 99
    _write(tmp_path / "mfnet" / "images" / "00001D.png", rgba)
    pairs = find_image_pairs(tmp_path / "mfnet")
    assert pairs == [(tmp_path / "mfnet" / "images" / "00001D.png", None)]
    rgb, x = read_image_pair(*pairs[0])
    assert rgb.shape == (4, 4, 3) and x.shape == (4, 4) and int(x.max()) == 99


def test_calibration_pairs_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_image_pairs(tmp_path / "missing")
    _write(tmp_path / "lonely.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="no RGB/X image pairs"):
        find_image_pairs(tmp_path)


def test_calibration_batches_are_inference_inputs(tmp_path):
    from rxssnet_core.calibration_images import calibration_batches, select_evenly
    from rxssnet_core.preprocessing import PreprocessConfig, prepare_inputs

    rng = np.random.default_rng(6)
    for index in range(5):
        _write(tmp_path / "RGB" / f"{index}.png", rng.integers(0, 256, (20, 30, 3), np.uint8))
        _write(tmp_path / "Modal" / f"{index}.png", rng.integers(0, 65535, (20, 30), np.uint16))
    pairs = select_evenly(find_image_pairs(tmp_path), 3)
    assert [p[0].name for p in pairs] == ["0.png", "2.png", "4.png"]  # spread over the whole folder
    config = PreprocessConfig(modality="thermal")
    batches = list(calibration_batches(pairs, config, (32, 48), progress=False))
    assert len(batches) == 3
    rgb, x = batches[1]
    assert rgb.shape == (1, 3, 32, 48) and x.shape == (1, 3, 32, 48) and rgb.dtype == np.float32
    expected_rgb, expected_x = prepare_inputs(*read_image_pair(*pairs[1]), config, (32, 48))
    np.testing.assert_array_equal(rgb[0], expected_rgb)
    np.testing.assert_array_equal(x[0], expected_x)
