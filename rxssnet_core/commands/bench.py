"""`rxssnet bench`: the inference backend latency table (rxssnet_core.benchmarks.backends)."""

from __future__ import annotations

import argparse

NAME = "bench"
HELP = ("time the inference backends (torch, onnxruntime, tensorrt) per variant, size and precision on "
        "random weights; prints a table with median/p90 latency, FPS and the ONNX Runtime / torch ratio")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rxssnet_core.benchmarks.backends import add_arguments as bench_arguments

    bench_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rxssnet_core.benchmarks.backends import run as bench_run

    return bench_run(args)
