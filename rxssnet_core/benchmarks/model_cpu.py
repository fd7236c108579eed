# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""CPU benchmark of the network: this machine's fp32 matmul throughput and each variant's forward latency.

Prints one table, measured in one run: median latency per variant at the given size, achieved GFLOP/s
(2 x MACs / latency) and that as a fraction of the matmul throughput measured just before. Random weights
(latency does not depend on their values).

    python -m rxssnet_core.benchmarks.model_cpu [--variants atto tiny] [--height 480 --width 640] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from rxssnet_core.config import ENCODER_VARIANTS, ModelConfig
from rxssnet_core.models.complexity import measure_complexity
from rxssnet_core.models.rxssnet import build_model


def _median_seconds(fn: Callable[[], object], warmup: int, repeat: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def matmul_gflops(size: int, repeat: int = 5) -> float:
    """fp32 square matmul throughput in GFLOP/s (2 n^3 FLOPs per product)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = _median_seconds(lambda: a @ b, warmup=2, repeat=repeat)
    return 2 * size**3 / seconds / 1e9


def model_latency(variant: str, height: int, width: int, warmup: int, repeat: int, channels_last: bool
                  ) -> tuple[float, int]:
    """(median seconds per forward, MACs) for one (1, 3, H, W) pair in eval mode."""
    model = build_model(ModelConfig(variant=variant, num_classes=9)).eval()
    macs = measure_complexity(model, height, width)[-1].macs
    rgb, x = torch.randn(1, 3, height, width), torch.randn(1, 3, height, width)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        rgb, x = rgb.contiguous(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        seconds = _median_seconds(lambda: model(rgb, x), warmup, repeat)
    return seconds, macs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(ENCODER_VARIANTS), choices=list(ENCODER_VARIANTS))
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--channels-last", action="store_true", help="run convolutions in channels_last layout")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak = max(matmul_gflops(2048), matmul_gflops(4096, repeat=3))
    rows = []
    for variant in args.variants:
        seconds, macs = model_latency(variant, args.height, args.width, args.warmup, args.repeat, args.channels_last)
        achieved = 2 * macs / seconds / 1e9
        rows.append({"variant": variant, "gmacs": macs / 1e9, "latency_ms": seconds * 1e3, "fps": 1 / seconds,
                     "gflops": achieved, "fraction_of_matmul": achieved / peak})
    if args.json:
        print(json.dumps({"matmul_gflops": peak, "threads": args.threads, "size": [args.height, args.width],
                          "rows": rows}, indent=2))
        return 0
    print(f"fp32 matmul throughput ({args.threads} threads): {peak:.1f} GFLOP/s; input {args.height}x{args.width}, "
          f"batch 1, {'channels_last' if args.channels_last else 'contiguous'}, torch {torch.__version__}")
    print(f"| variant | GMACs | latency (ms, median of {args.repeat}) | FPS | GFLOP/s | fraction of matmul |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['gmacs']:.1f} | {row['latency_ms']:.0f} | {row['fps']:.2f} | "
              f"{row['gflops']:.1f} | {100 * row['fraction_of_matmul']:.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
