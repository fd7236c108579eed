# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What the fp16 fix costs on the CPU: the network's forward with three GRN formulas, measured in one run.

ConvNeXt V2's GRN runs in every block. Three formulas of the same value, swapped into one model:

    fp32 reductions (ours)  sum(x^2) over the pixels in fp32 whatever the input dtype (finite in fp16 at 480x640)
    fast, input dtype       the previous formula: sqrt(sum(x^2)) in the input's dtype (overflows in fp16)
    timm Tensor.norm        timm's GlobalResponseNorm.forward (x.norm(p=2) over the pixels)

Rows run in interleaved rounds (each round times every row once), so machine load hits all rows alike; the ratio
column divides by the "fast, input dtype" row of the same dtype. fp32 and bf16 (bf16 has fp32's range, so the old
formula is a fair baseline there; in fp16 it gives NaN). Random weights: latency does not depend on their values.

    python -m rxssnet_core.benchmarks.grn [--variant atto] [--height 480 --width 640] [--repeat 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Iterator, Sequence

import torch
from timm.layers.grn import GlobalResponseNorm as TimmGlobalResponseNorm

from rxssnet_core.benchmarks import cpu_features, cpu_name, machine_line
from rxssnet_core.config import ENCODER_VARIANTS, ModelConfig
from rxssnet_core.models.convnextv2_encoder import GlobalResponseNorm
from rxssnet_core.models.rxssnet import build_model


def _fast_in_input_dtype(self: GlobalResponseNorm, x: torch.Tensor) -> torch.Tensor:
    # The formula before the fp16 fix (the baseline being measured), kept here and nowhere else.
    spatial_norm = x.square().sum(dim=self.spatial_dim, keepdim=True).sqrt()
    normalized = spatial_norm / (spatial_norm.mean(dim=self.channel_dim, keepdim=True) + self.eps)
    return x + torch.addcmul(self.bias.view(self.wb_shape), self.weight.view(self.wb_shape), x * normalized)


FORMULAS = {
    "fp32 reductions (ours)": GlobalResponseNorm.forward,
    "fast, input dtype (before)": _fast_in_input_dtype,
    "timm Tensor.norm": TimmGlobalResponseNorm.forward,
}
BASELINE = "fast, input dtype (before)"


@contextlib.contextmanager
def grn_formula(name: str) -> Iterator[None]:
    """Every GlobalResponseNorm computes with formula `name` inside the block."""
    original = GlobalResponseNorm.forward
    GlobalResponseNorm.forward = FORMULAS[name]
    try:
        yield
    finally:
        GlobalResponseNorm.forward = original


def measure(variant: str, height: int, width: int, dtypes: Sequence[torch.dtype], warmup: int, repeat: int
            ) -> list[dict[str, object]]:
    """Median forward seconds per (dtype, formula), timed in interleaved rounds."""
    models = {dtype: build_model(ModelConfig(variant=variant, num_classes=9)).eval().to(dtype) for dtype in dtypes}
    generator = torch.Generator().manual_seed(0)
    inputs = {dtype: (torch.randn(1, 3, height, width, generator=generator).to(dtype),
                      torch.randn(1, 3, height, width, generator=generator).to(dtype)) for dtype in dtypes}
    keys = [(dtype, name) for dtype in dtypes for name in FORMULAS]
    samples: dict[tuple[torch.dtype, str], list[float]] = {key: [] for key in keys}
    with torch.inference_mode():
        for round_index in range(warmup + repeat):
            for dtype, name in keys:
                with grn_formula(name):
                    start = time.perf_counter()
                    models[dtype](*inputs[dtype])
                    elapsed = time.perf_counter() - start
                if round_index >= warmup:
                    samples[(dtype, name)].append(elapsed)
    rows = []
    for dtype, name in keys:
        median = statistics.median(samples[(dtype, name)])
        baseline = statistics.median(samples[(dtype, BASELINE)])
        rows.append({"dtype": str(dtype).removeprefix("torch."), "grn": name, "median_ms": 1e3 * median,
                     "ratio_to_before": median / baseline})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_core.benchmarks.grn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="atto", choices=sorted(ENCODER_VARIANTS), help="default atto")
    parser.add_argument("--height", type=int, default=480, help="input height (default 480)")
    parser.add_argument("--width", type=int, default=640, help="input width (default 640)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=("float32", "bfloat16"),
                        help="input and weight dtypes (default float32 bfloat16)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds (default 1)")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = [getattr(torch, name) for name in args.dtypes]
    rows = measure(args.variant, args.height, args.width, dtypes, args.warmup, args.repeat)
    machine = {"cpu": cpu_name(), "features": cpu_features(), "torch": torch.__version__,
               "threads": torch.get_num_threads()}
    if args.json:
        print(json.dumps({"machine": machine, "rows": rows}, indent=1))
        return 0
    print(f"GRN formulas in RXSSNet-{args.variant} at {args.height}x{args.width}, batch 1, {args.repeat} interleaved "
          f"rounds; {machine_line()}; torch {machine['torch']}, {machine['threads']} threads")
    print()
    print("| dtype | GRN | forward median ms | / before |")
    print("|---|---|---:|---:|")
    for row in rows:
        print(f"| {row['dtype']} | {row['grn']} | {row['median_ms']:.1f} | {row['ratio_to_before']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
