# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Options that several `rxssnet` commands share (eval, predict, bag eval), without torch: `rxssnet bag eval`
runs on a robot with only ONNX Runtime or TensorRT (requirements/core.txt).
"""

from __future__ import annotations

import argparse
from typing import Any

from rxssnet_core.degradation import DEFAULT_NOISE_STD, DEFAULT_SHIFT_PX
from rxssnet_core.errors import UsageError
from rxssnet_core.evaluation import INFERENCE_MODES
from rxssnet_core.inference.backends.base import BACKEND_CHOICES, PRECISIONS

DEGRADED_HELP = ("also score the model with X missing, X blank, X noisy (--noise-std), X shifted (--shift-px) and "
                 "RGB missing, in one table beside the fused score (degraded_modes.md and .json in --out)")


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", default="single", choices=INFERENCE_MODES,
                        help="single: one pass at native size (reference protocol); multiscale: --scales and "
                             "--flip; sliding: --window/--stride tiles")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.75, 1.0, 1.25],
                        help="scales for --mode multiscale (default: 0.75 1 1.25)")
    parser.add_argument("--flip", action="store_true", help="also average the horizontally mirrored input")
    parser.add_argument("--window", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="sliding window size (default 480 640)")
    parser.add_argument("--stride", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="sliding window stride (default 2/3 of the window)")
    parser.add_argument("--device", default=None, choices=("cpu", "cuda"), help="default: cuda when available")


def mode_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"scales": args.scales, "flip": args.flip, "window": args.window, "stride": args.stride}


def add_backend_arguments(parser: argparse.ArgumentParser, what: str = "--mode single") -> None:
    """--backend, --precision, --input-size, --calibration-dir: what the node's `backend`, `precision` and
    `input_size` parameters choose, for `rxssnet eval`, `predict` and `bag eval`.
    """
    parser.add_argument("--backend", default="torch", choices=BACKEND_CHOICES,
                        help=f"inference backend of {what}, as the node's `backend` (default torch; auto: the "
                             "fastest installed)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="backend precision (default fp32)")
    parser.add_argument("--input-size", default=None, metavar="HxW",
                        help="run the network at this size, the node's input_size: images are letterboxed into it "
                             "(rxssnet_core.network_input, the node's rule); 'trained': the checkpoint's training "
                             "size, the node's default (default here: each image's size; openvino and tensorrt "
                             "build for the first image's size)")
    parser.add_argument("--calibration-dir", default=None, metavar="DIR",
                        help="--precision int8: a folder of RGB/X pairs from the robot's cameras to quantize on "
                             "(never the split being scored)")


def check_backend_arguments(args: argparse.Namespace) -> None:
    """The test-time modes need the torch model's logits: other backends only serve --mode single."""
    if args.mode != "single" and (args.backend != "torch" or args.precision != "fp32" or args.input_size):
        raise UsageError(f"--mode {args.mode} averages the torch model's logits; --backend/--precision/"
                         "--input-size apply to --mode single (the node's path). Drop them, or use --mode single")


def add_degraded_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--degraded-modes", action="store_true", help=DEGRADED_HELP)
    parser.add_argument("--noise-std", type=float, default=DEFAULT_NOISE_STD, metavar="STD",
                        help="with --degraded-modes: std of the Gaussian noise added to X, in normalised units "
                             f"(1 = one normalisation std; default {DEFAULT_NOISE_STD})")
    parser.add_argument("--shift-px", type=int, default=DEFAULT_SHIFT_PX, metavar="N",
                        help="with --degraded-modes: shift X right and down by N pixels, as a wrong extrinsic "
                             f"calibration does (default {DEFAULT_SHIFT_PX})")
