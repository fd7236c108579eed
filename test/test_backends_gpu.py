# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""GPU backends: torch CUDA (fp16, bf16), ONNX Runtime CUDA and TensorRT engines (fp32, fp16, int8, dynamic).

Every test here is marked `gpu` (skipped without CUDA by conftest.py); the TensorRT ones also skip where
`import tensorrt` fails. Agreement is measured against torch fp32 on the CPU.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from rxssnet_core.inference import Segmenter

pytestmark = pytest.mark.gpu
H, W = 96, 128  # small engines build in seconds; a multiple of 32 is not required


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return (rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8))


@pytest.fixture(scope="module")
def cpu_result(tiny_checkpoint, images):
    return Segmenter.from_checkpoint(tiny_checkpoint).segment(*images, return_confidence=True)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


@pytest.mark.parametrize(("precision", "minimum"), [("fp32", 0.999), ("fp16", 0.97), ("bf16", 0.9)])
def test_torch_cuda_agrees_with_cpu(tiny_checkpoint, images, cpu_result, precision, minimum):
    seg = Segmenter.from_checkpoint(tiny_checkpoint, device="cuda", precision=precision, channels_last=True)
    result = seg.segment(*images, return_confidence=True)
    assert result.labels.dtype == np.uint8 and result.labels.shape == (H, W)
    assert result.confidence.dtype == np.float32
    assert agreement(result.labels, cpu_result.labels) >= minimum


def test_onnxruntime_cuda_agrees_with_cpu(tiny_checkpoint, images, cpu_result, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    seg = Segmenter.from_checkpoint(tiny_checkpoint, backend="onnxruntime", device="cuda", cache_dir=tmp_path)
    assert agreement(seg.segment(*images).labels, cpu_result.labels) >= 0.999


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "max_diff", "minimum"), [("fp32", 0.05, 0.99), ("fp16", None, 0.97)])
def test_tensorrt_engine_agrees_and_is_cached(tiny_checkpoint, images, cpu_result, tmp_path, precision,
                                               max_diff, minimum):
    trt = pytest.importorskip("tensorrt")
    import torch

    seg = Segmenter.from_checkpoint(tiny_checkpoint, backend="tensorrt", device="cuda", precision=precision,
                                    cache_dir=tmp_path, input_size=(H, W))
    engines = list((tmp_path / "engines").glob("*.engine"))
    assert len(engines) == 1
    name = engines[0].name
    assert f"trt{trt.__version__}" in name and f"{H}x{W}" in name and precision in name
    assert torch.cuda.get_device_name().lower().split()[-1] in name
    result = seg.segment(*images, return_confidence=True)
    assert seg.backend_name == "tensorrt" and seg.backend.fixed_size == (H, W)
    assert agreement(result.labels, cpu_result.labels) >= minimum
    if max_diff is not None:  # TF32 may be used for fp32 layers: close, not bit-equal
        assert np.abs(result.confidence - cpu_result.confidence).max() <= max_diff

    mtime = engines[0].stat().st_mtime_ns
    again = Segmenter.from_checkpoint(tiny_checkpoint, backend="tensorrt", device="cuda", precision=precision,
                                      cache_dir=tmp_path, input_size=(H, W))
    assert engines[0].stat().st_mtime_ns == mtime  # loaded from the cache, not rebuilt
    np.testing.assert_array_equal(again.segment(*images).labels, result.labels)


@pytest.mark.slow
def test_tensorrt_int8_calibrates_on_a_folder(tiny_checkpoint, images, cpu_result, tmp_path):
    pytest.importorskip("tensorrt")
    import cv2

    rng = np.random.default_rng(4)
    (tmp_path / "data" / "RGB").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "Thermal").mkdir(parents=True, exist_ok=True)
    for index in range(8):
        cv2.imwrite(str(tmp_path / "data" / "RGB" / f"{index}.png"), rng.integers(0, 256, (H, W, 3), np.uint8))
        cv2.imwrite(str(tmp_path / "data" / "Thermal" / f"{index}.png"), rng.integers(0, 256, (H, W), np.uint8))
    engine = tmp_path / "int8.engine"
    seg = Segmenter.from_checkpoint(tiny_checkpoint, backend="tensorrt", device="cuda", precision="int8",
                                    engine_path=engine, calibration_dir=tmp_path / "data", input_size=(H, W))
    assert engine.is_file() and engine.with_suffix(".calib").is_file()
    labels = seg.segment(*images).labels
    assert labels.shape == (H, W) and int(labels.max()) < seg.num_classes
    assert agreement(labels, cpu_result.labels) >= 0.5  # random weights have small margins; int8 flips some


@pytest.mark.slow
def test_tensorrt_dynamic_engine_from_the_cli(tiny_checkpoint, images, cpu_result, tmp_path: pathlib.Path):
    pytest.importorskip("tensorrt")
    from rxssnet_core.cli import main

    engine = tmp_path / "dynamic.engine"
    code = main(["export", "--checkpoint", str(tiny_checkpoint), "--format", "tensorrt", "--out", str(engine),
                 "--height", str(H), "--width", str(W), "--dynamic", "--precision", "fp32"])
    assert code == 0 and engine.is_file()
    seg = Segmenter.from_checkpoint(None, backend="tensorrt", device="cuda", precision="fp32",
                                    engine_path=engine)  # the engine's .json is enough
    assert seg.backend.fixed_size is None and seg.num_classes == 5
    assert agreement(seg.segment(*images).labels, cpu_result.labels) >= 0.99
    # Another size inside the profile (96x128 .. 192x256) runs natively, one outside is resized into it.
    rng = np.random.default_rng(5)
    for size, native in (((136, 150), True), ((40, 60), False)):
        rgb, x = rng.integers(0, 256, (*size, 3), np.uint8), rng.integers(0, 256, size, np.uint8)
        assert (seg.network_size(*size) == size) == native
        result = seg.segment(rgb, x)
        assert result.labels.shape == size
        if native:
            reference = Segmenter.from_checkpoint(tiny_checkpoint).segment(rgb, x).labels
            assert agreement(result.labels, reference) >= 0.99
