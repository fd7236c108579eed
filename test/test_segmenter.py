# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Segmenter: one API over the backends, checked against the network run by hand (CPU only)."""

from __future__ import annotations

import argparse
import importlib.util
import pathlib

import numpy as np
import pytest

from rxssnet_core.inference import BackendError, Segmenter
from rxssnet_core.preprocessing import PreprocessConfig, PreprocessError, preprocess_pair

H, W = 48, 64


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return (rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            rng.integers(0, 256, (H, W), dtype=np.uint8))


@pytest.fixture(scope="module")
def reference_model(tiny_checkpoint: pathlib.Path):
    from rxssnet_core import load_model

    return load_model(tiny_checkpoint)


@pytest.fixture(scope="module")
def torch_segmenter(tiny_checkpoint: pathlib.Path) -> Segmenter:
    return Segmenter.from_checkpoint(tiny_checkpoint, backend="torch", device="cpu")


def reference_logits(model, rgb: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    """The network run by hand: training's preprocessing, then forward; (K, H, W)."""
    import torch

    config = PreprocessConfig.from_dict(model.metadata["preprocess"])
    if x is None:
        rgb_chw, _ = preprocess_pair(rgb, rgb[:, :, 0], config)
        x_chw = np.zeros((config.x_channels, *rgb.shape[:2]), dtype=np.float32)
    else:
        rgb_chw, x_chw = preprocess_pair(rgb, x, config)
    with torch.no_grad():
        return model(torch.from_numpy(rgb_chw)[None], torch.from_numpy(x_chw)[None])[0].numpy()


def test_torch_labels_and_confidence_match_the_network(torch_segmenter, reference_model, images):
    rgb, x = images
    result = torch_segmenter.segment(rgb, x, return_confidence=True)
    logits = reference_logits(reference_model, rgb, x)
    assert result.labels.shape == (H, W) and result.labels.dtype == np.uint8
    np.testing.assert_array_equal(result.labels, logits.argmax(0))
    exp = np.exp(logits - logits.max(0))
    np.testing.assert_allclose(result.confidence, (exp / exp.sum(0)).max(0), rtol=1e-5, atol=1e-6)
    assert result.confidence.dtype == np.float32 and result.confidence.shape == (H, W)
    assert set(result.timing) == {"preprocess_ms", "inference_ms", "postprocess_ms", "total_ms"}
    assert all(v >= 0 for v in result.timing.values())
    parts = result.timing["preprocess_ms"] + result.timing["inference_ms"] + result.timing["postprocess_ms"]
    assert result.timing["total_ms"] == pytest.approx(parts, rel=1e-6, abs=1e-6)
    assert torch_segmenter.segment(rgb, x).confidence is None


def test_missing_x_runs_rgb_only_with_neutral_x(torch_segmenter, reference_model, images):
    rgb, _ = images
    result = torch_segmenter.segment(rgb, None)
    np.testing.assert_array_equal(result.labels, reference_logits(reference_model, rgb, None).argmax(0))


def test_model_facts_come_from_the_checkpoint(torch_segmenter):
    seg = torch_segmenter
    assert seg.num_classes == 5
    assert seg.class_names == ["background", "a", "b", "c", "d"]
    assert seg.palette.dtype == np.uint8 and seg.palette.shape == (5, 3)
    np.testing.assert_array_equal(seg.palette[1], [255, 0, 0])
    assert seg.preprocess_config.modality == "thermal"
    assert (seg.backend_name, seg.precision, seg.model_name) == ("torch", "fp32", "rxssnet-atto")


def test_input_size_resizes_and_returns_labels_at_the_image_size(reference_model, images):
    rgb, x = images
    seg = Segmenter.from_model(reference_model, input_size="32x32")
    result = seg.segment(rgb, x, return_confidence=True)
    assert result.labels.shape == (H, W) and result.confidence.shape == (H, W)
    # The network saw a 32x32 image: a 32x32 forward, upsampled nearest, must give the same labels.
    import cv2

    small = reference_logits(reference_model, cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR),
                             cv2.resize(x, (32, 32), interpolation=cv2.INTER_LINEAR)).argmax(0)
    agreement = (cv2.resize(small.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
                 == result.labels).mean()
    assert agreement > 0.9  # resizing raw vs normalised images differs only by rounding at a few pixels


def test_segment_batch_equals_single_images(torch_segmenter, images):
    rgb, x = images
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    batch = torch_segmenter.segment_batch([rgb, flipped], [x, None], return_confidence=True)
    for result, (r, xx) in zip(batch, [(rgb, x), (flipped, None)]):
        single = torch_segmenter.segment(r, xx, return_confidence=True)
        np.testing.assert_array_equal(result.labels, single.labels)
        np.testing.assert_allclose(result.confidence, single.confidence, atol=1e-5)
    with pytest.raises(PreprocessError, match="one size"):
        torch_segmenter.segment_batch([rgb, rgb[:40]], [x, x[:40]])


def test_channels_last_and_bf16_on_cpu(reference_model, torch_segmenter, images):
    import torch

    rgb, x = images
    reference = torch_segmenter.segment(rgb, x).labels
    channels_last = Segmenter.from_model(reference_model, channels_last=True)
    assert (channels_last.segment(rgb, x).labels == reference).mean() >= 0.999
    # from_model converts a copy: the caller's module keeps its memory format.
    weight = next(p for p in reference_model.parameters() if p.ndim == 4)
    assert weight.is_contiguous() and not weight.is_contiguous(memory_format=torch.channels_last)
    bf16 = Segmenter.from_model(reference_model, precision="bf16")
    labels = bf16.segment(rgb, x).labels
    assert bf16.precision == "bf16" and labels.shape == (H, W)
    assert (labels == reference).mean() > 0.5  # random weights: small logit margins, bf16 flips a few


@pytest.mark.parametrize(("rgb", "x", "message"), [
    (np.zeros((H, W, 3), np.float32), np.zeros((H, W), np.uint8), "uint8"),
    (np.zeros((H, W, 3), np.uint8), np.zeros((H + 1, W), np.uint8), "register X"),
    (np.zeros((0, W, 3), np.uint8), np.zeros((0, W), np.uint8), "H, W > 0"),
    (np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8), r"\(H, W, 3\)"),
    ([[1, 2, 3]], np.zeros((H, W), np.uint8), "numpy array"),
    (np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.int32), "int32"),
    (np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 2), np.uint8), "1 or 3 channels"),
])
def test_bad_images_raise_clear_errors(torch_segmenter, rgb, x, message):
    with pytest.raises(PreprocessError, match=message):
        torch_segmenter.segment(rgb, x)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"backend": "tflite"}, "choose one of"),
    ({"precision": "fp8"}, "choose one of"),
    ({"device": "tpu"}, "choose one of"),
    ({"precision": "fp16"}, "fp16 needs a GPU"),
    ({"precision": "int8"}, "int8 is quantized on calibration images: use backend='openvino'"),
    ({"backend": "tensorrt", "device": "cpu"}, "runs only on device"),
    ({"backend": "onnxruntime", "precision": "bf16"}, "not supported"),
])
def test_bad_backend_settings_raise_clear_errors(tiny_checkpoint, kwargs, message):
    with pytest.raises(BackendError, match=message):
        Segmenter.from_checkpoint(tiny_checkpoint, **kwargs)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.safetensors"):
        Segmenter.from_checkpoint(tmp_path / "nope.safetensors")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_missing_says_what_to_install(tiny_checkpoint):
    with pytest.raises(BackendError, match=r"python3-libnvinfer.*pip install tensorrt"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="tensorrt", device="cuda", precision="fp16")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("cache")


def test_onnxruntime_backend_agrees_with_torch_and_caches_the_export(tiny_checkpoint, torch_segmenter,
                                                                      images, onnx_cache):
    rgb, x = images
    seg = Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", cache_dir=onnx_cache)
    exported = list((onnx_cache / "onnx").glob("*.onnx"))
    assert len(exported) == 1 and "dynamic" in exported[0].name and seg.backend.fixed_size is None
    ours, theirs = seg.segment(rgb, x, return_confidence=True), torch_segmenter.segment(rgb, x, True)
    assert (ours.labels == theirs.labels).mean() >= 0.999
    np.testing.assert_allclose(ours.confidence, theirs.confidence, atol=1e-4)
    assert seg.class_names == torch_segmenter.class_names and seg.backend_name == "onnxruntime"

    mtime = exported[0].stat().st_mtime_ns
    Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", cache_dir=onnx_cache)
    assert exported[0].stat().st_mtime_ns == mtime  # reused, not exported again

    # The ONNX file alone is enough: it carries config and metadata.
    alone = Segmenter.from_checkpoint(None, backend="onnxruntime", onnx_path=exported[0])
    assert alone.class_names == seg.class_names and alone.num_classes == 5
    np.testing.assert_array_equal(alone.segment(rgb, x).labels, ours.labels)


def test_cpu_runtimes_take_their_thread_count_from_omp_num_threads(tiny_checkpoint, onnx_cache, monkeypatch):
    """ONNX Runtime ignores OMP_NUM_THREADS and spins on every core; the backend passes it on (an explicit count
    wins; an unusable value leaves the runtime's default)."""
    from rxssnet_core.inference.backends.base import cpu_threads
    from rxssnet_core.inference.backends.onnxruntime_backend import OnnxRuntimeBackend

    exported = next((onnx_cache / "onnx").glob("*.onnx"), None)
    if exported is None:  # run alone: export first
        Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", cache_dir=onnx_cache)
        exported = next((onnx_cache / "onnx").glob("*.onnx"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_threads() == 1 and cpu_threads(3) == 3
    backend = OnnxRuntimeBackend(exported)
    assert backend.session.get_session_options().intra_op_num_threads == 1
    for unusable in ("", "0", "four"):
        monkeypatch.setenv("OMP_NUM_THREADS", unusable)
        assert cpu_threads() is None


def test_onnx_file_of_other_weights_is_refused(tiny_checkpoint, onnx_cache, tmp_path):
    import json

    import onnx

    exported = next((onnx_cache / "onnx").glob("*.onnx"), None)
    if exported is None:  # run alone: export first
        Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", cache_dir=onnx_cache)
        exported = next((onnx_cache / "onnx").glob("*.onnx"))
    path = tmp_path / "tampered.onnx"
    proto = onnx.load(str(exported))
    entry = next(e for e in proto.metadata_props if e.key == "rxssnet")
    entry.value = json.dumps({**json.loads(entry.value), "weights_sha256": "0" * 64})
    onnx.save(proto, str(path))
    with pytest.raises(ValueError, match="other weights"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", onnx_path=path)


def test_bench_prints_a_table_with_the_ratio():
    from rxssnet_core.benchmarks.backends import add_arguments, format_table, run_benchmark

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--variants", "atto", "--decoder-dim", "16", "--sizes", "64x64", "--backends", "torch",
                              "onnxruntime", "--precisions", "fp32", "fp16", "--warmup", "0", "--repeat", "2",
                              "--num-classes", "3"])
    report = run_benchmark(args)
    rows = {(r["backend"], r["precision"]): r for r in report["rows"]}
    assert set(rows) == {("authors", "fp32"), ("torch", "fp32"), ("onnxruntime", "fp32")}
    assert rows[("authors", "fp32")]["over_authors"] == pytest.approx(1.0)
    for key in (("torch", "fp32"), ("onnxruntime", "fp32")):
        row = rows[key]
        assert 0 < row["model_median_ms"] <= row["model_p90_ms"] and row["over_authors"] > 0
        assert row["end_to_end_median_ms"] >= row["model_median_ms"] * 0.5 and row["fps"] > 0
    skipped = {(s["backend"], s["precision"]): s["reason"] for s in report["skipped"]}
    assert "fp16 needs a GPU" in skipped[("torch", "fp16")]
    assert report["environment"]["matmul_gflops"] > 0
    table = format_table(report)
    assert "/ authors' forward" in table and "fp32 matmul" in table
    assert sum(line.startswith("| atto (decoder 16) | 64x64 |") for line in table.splitlines()) == 3
    assert "not run: atto 64x64 torch fp16" in table


def test_a_training_checkpoint_runs_through_the_segmenter(tiny_checkpoint, tmp_path):
    """One loader: `checkpoints/last.pt` of a running training works wherever a model file does."""
    import torch

    from rxssnet_core.models.checkpoints import load_model
    from rxssnet_core.training.checkpointing import CHECKPOINT_FORMAT, REQUIRED_KEYS, load_training_checkpoint

    model = load_model(tiny_checkpoint)
    state = {key: {} for key in REQUIRED_KEYS}  # optimizer, scheduler, rng, progress: unused for inference
    state.update({"format": CHECKPOINT_FORMAT, "version": 1, "model": model.state_dict(),
                  "model_config": model.config.to_dict(), "metadata": model.metadata})
    last = tmp_path / "last.pt"
    torch.save(state, last)
    load_training_checkpoint(last)  # the layout the trainer writes
    rng = np.random.default_rng(5)
    rgb, x = rng.integers(0, 256, (32, 48, 3), np.uint8), rng.integers(0, 256, (32, 48), np.uint8)
    expected = Segmenter.from_checkpoint(tiny_checkpoint).segment(rgb, x).labels
    np.testing.assert_array_equal(Segmenter.from_checkpoint(last).segment(rgb, x).labels, expected)
