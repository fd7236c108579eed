# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What the fp16 precision plan's fp32 islands cost, and what they buy: one table per device.

    python -m rxssnet_core.benchmarks.precision_islands [--device cpu|cuda] [--checkpoint CKPT] [--size 480x640]

Rows: a random atto RXSSNet, the constructed worst case (`disjoint_query_key_model`: CGPI queries and keys on
disjoint channels, so plain fp16 overflows) and, with --checkpoint, a trained model. Columns: milliseconds per
forward (batch 1) of torch fp32, plain fp16 (`.half()`), fp16 with the plan's islands
(`precision_plan.half_precision_model`), bf16 autocast (the torch backend's bf16: bf16 has fp32's exponent, so
it needs no islands) and, on the CPU where OpenVINO is installed, OpenVINO bf16; with each half-precision path's
share of finite logits and of labels equal to fp32's on a synthetic scene the plan was not calibrated on.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rxssnet_core.benchmarks import machine_line
from rxssnet_core.calibration_images import synthetic_calibration_arrays
from rxssnet_core.config import ModelConfig
from rxssnet_core.export import export_onnx
from rxssnet_core.inference.backends.base import BackendError
from rxssnet_core.inference.backends.openvino_backend import OpenVinoBackend
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.models.rxssnet import RXSSNet, build_model
from rxssnet_core.precision_plan import half_precision_model, precision_plan_for
from rxssnet_core.preprocessing import PreprocessConfig


def disjoint_query_key_model(seed: int = 0) -> RXSSNet:
    """A random atto RXSSNet whose CGPI queries live on the even channels and keys on the odd ones (each stage).

    q = ELU(qk(u)) + 1 is ~e^-40 on a channel whose bias is -40, so q . mean(k) is ~1e-17 and the normaliser
    1 / (. + 1e-6) is ~1e6, while RoPE rotates each (even, odd) pair so the numerator stays O(1): the fp32 model
    is finite and its attention outputs reach ~1e7, past fp16's 65504. A model trained on other data can land
    near this regime; the precision plan must hold for it.
    """
    torch.manual_seed(seed)
    model = build_model(ModelConfig(variant="atto", num_classes=5, decoder_dim=32)).eval()
    with torch.no_grad():
        stages: list[Any] = list(model.cgpi)
        for stage in stages:
            bias, dim = stage.block.attn.qk.bias, stage.block.attn.qk.in_features
            bias[0:dim:2], bias[1:dim:2] = 2.0, -40.0  # queries: even channels only
            bias[dim::2], bias[dim + 1::2] = -40.0, 2.0  # keys: odd channels only
    model.metadata = {"preprocess": PreprocessConfig(modality="thermal").to_dict(), "class_names": list("abcde"),
                      "palette": [[i * 50, 0, 0] for i in range(5)], "dataset": "test"}
    return model


def _milliseconds(run: Callable[[], Any], repeat: int, device: torch.device) -> tuple[float, Any]:
    result = run()  # warm-up
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), result


def _quality(logits: torch.Tensor, reference: torch.Tensor) -> str:
    finite = torch.isfinite(logits).float().mean().item()
    agree = (logits.float().argmax(1) == reference.argmax(1)).float().mean().item()
    return f"{100 * finite:.1f} / {100 * agree:.2f}"


def _openvino_bf16_ms(model: RXSSNet, size: tuple[int, int], arrays: dict[str, np.ndarray], repeat: int) -> str:
    try:
        with tempfile.TemporaryDirectory() as scratch:
            path = export_onnx(model, Path(scratch) / "model.onnx", *size, outputs="logits")
            backend = OpenVinoBackend(path, precision="bf16")
            try:
                ms, _ = _milliseconds(lambda: backend.infer(arrays["rgb"][:1], arrays["x"][:1]), repeat,
                                      torch.device("cpu"))
            finally:
                backend.close()
    except BackendError as error:  # OpenVINO not installed, or no bf16 on this CPU
        return f"n/a ({str(error)[:40]})"
    return f"{ms:.0f}"


def measure(name: str, model: RXSSNet, size: tuple[int, int], device: torch.device, repeat: int) -> str:
    """One table row for `model`: times and (finite % / label agreement %) of each precision."""
    plan = precision_plan_for(model, size, images=1, progress=False)
    preprocess = PreprocessConfig.from_dict(model.metadata.get("preprocess") or {})
    arrays = synthetic_calibration_arrays(preprocess, size, model.config.x_channels, 1, seed=7)
    rgb, x = (torch.from_numpy(arrays[key]).to(device) for key in ("rgb", "x"))
    fp32 = copy.deepcopy(model).to(device).eval()
    plain = copy.deepcopy(fp32).half()
    islands = half_precision_model(fp32, torch.float16, plan.fp32_modules, plan.fp32_outputs)
    with torch.inference_mode():
        fp32_ms, reference = _milliseconds(lambda: fp32(rgb, x), repeat, device)
        plain_ms, plain_out = _milliseconds(lambda: plain(rgb.half(), x.half()), repeat, device)
        islands_ms, islands_out = _milliseconds(lambda: islands(rgb, x), repeat, device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            bf16_ms, bf16_out = _milliseconds(lambda: fp32(rgb, x), repeat, device)
    openvino_ms = _openvino_bf16_ms(model, size, arrays, repeat) if device.type == "cpu" else "n/a"
    return (f"| {name} | {len(plan.fp32_modules)} | {fp32_ms:.0f} | {plain_ms:.0f} ({_quality(plain_out, reference)}) "
            f"| {islands_ms:.0f} ({_quality(islands_out, reference)}) | {100 * (islands_ms / plain_ms - 1):+.1f} % "
            f"| {bf16_ms:.0f} ({_quality(bf16_out, reference)}) | {openvino_ms} |")


def islands_table(device: torch.device, size: tuple[int, int], checkpoint: str | None = None, repeat: int = 3
                  ) -> str:
    """The table (caption and markdown rows) for the two constructed models and, if given, a checkpoint."""
    models: list[tuple[str, RXSSNet]] = [("atto, random weights", _random_atto()),
                                         ("atto, constructed worst case", disjoint_query_key_model())]
    if checkpoint:
        models.append((Path(checkpoint).name, load_model(checkpoint).eval()))
    # a first full-size forward, so that no row pays for the allocator's and the kernels' first use
    warm = models[0][1].to(device)
    with torch.inference_mode():
        warm(torch.zeros(1, 3, *size, device=device), torch.zeros(1, warm.config.x_channels, *size, device=device))
    warm.cpu()
    lines = [f"fp32 islands of the fp16 precision plan, {size[0]}x{size[1]}, batch 1, torch {torch.__version__}, "
             f"{device.type}, {torch.get_num_threads()} threads; {machine_line()}",
             "ms per forward (median); in brackets: % finite logits / % labels equal to fp32's",
             "| model | fp32 islands | torch fp32 | torch fp16 plain | torch fp16 islands | islands cost "
             "| torch bf16 autocast | OpenVINO bf16 |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [measure(name, model, size, device, repeat) for name, model in models]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_core.benchmarks.precision_islands",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where torch runs (default cpu)")
    parser.add_argument("--size", default="480x640", help="HxW (default 480x640)")
    parser.add_argument("--checkpoint", default=None, help="also measure this trained checkpoint")
    parser.add_argument("--repeat", type=int, default=3, help="timed forwards per cell, after one warm-up")
    args = parser.parse_args(argv)
    try:
        height, width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r} is not HxW, e.g. 480x640")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this torch sees no CUDA device")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    print(islands_table(torch.device(args.device), (height, width), args.checkpoint, args.repeat), flush=True)
    return 0


def _random_atto() -> RXSSNet:
    model = disjoint_query_key_model()
    torch.manual_seed(0)
    fresh = build_model(model.config).eval()
    fresh.metadata = model.metadata
    return fresh


if __name__ == "__main__":
    raise SystemExit(main())
