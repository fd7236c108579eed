"""`rxssnet bench`: the inference backend latency table (rxssnet_core.benchmarks.backends)."""

from __future__ import annotations

import argparse

NAME = "bench"
HELP = ("time the inference backends (torch, channels_last, onnxruntime, openvino fp32/bf16/int8, tensorrt) "
        "against the authors' forward in interleaved rounds; prints each row's ratio to it, end-to-end FPS, "
        "the CPU's features and matmul GFLOP/s, and (--checkpoint/--train-fusion) the reduced precisions' "
        "accuracy against fp32")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rxssnet_core.benchmarks.backends import add_arguments as bench_arguments

    bench_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rxssnet_core.benchmarks.backends import run as bench_run

    return bench_run(args)
