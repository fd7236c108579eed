# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Subcommands of the `rxssnet` command line, and their registry.

`CORE_COMMANDS` names every core command once: its name, its module and its one-line help (the only place that
help is written). `rxssnet --help` lists the registry without importing a command module; `rxssnet NAME ...`
imports only NAME's module (rxssnet_core.cli). A command module (here, or `rxssnet_core.benchmarks.backends` for
`bench`) defines `add_arguments(parser)` and `run(args) -> int` and imports what it uses at its top. The ROS side
adds its commands in `rxssnet_ros.commands.ROS_COMMANDS`.

Without torch (requirements/core.txt: a robot with ONNX Runtime or TensorRT), `datasets`, `calibrate` and `bag`
work; the other commands need torch. `options` holds the torch-free options that several commands share.
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    """One `rxssnet` subcommand: `module` defines `add_arguments(parser)` and `run(args) -> int`."""

    name: str
    module: str
    help: str


CORE_COMMANDS: tuple[Command, ...] = (
    Command("info", "rxssnet_core.commands.info",
            "print parameters and multiply-accumulates per part of an RXSSNet (variant, classes, input size)"),
    Command("convert-reference", "rxssnet_core.commands.convert_reference",
            "convert an authors' RXSSNet checkpoint ({'state_dict': ...}) to an RXSSNet-ROS model file"),
    Command("datasets", "rxssnet_core.commands.datasets",
            "List the supported datasets (modality, classes, expected folder layout), show one in detail, check "
            "a folder against its layout, or generate the synthetic fusion dataset."),
    Command("train", "rxssnet_core.commands.train",
            "train RXSSNet from a config/train/*.yaml recipe (resume with --resume; several GPUs or machines: "
            "torchrun --nproc_per_node N -m rxssnet_core.cli train ...)"),
    Command("eval", "rxssnet_core.commands.evaluate",
            "evaluate a checkpoint on a dataset split: metrics.json, metrics.md, confusion-matrix and IoU plots"),
    Command("predict", "rxssnet_core.commands.predict",
            "predict label PNGs and colour overlays for a dataset split (--dataset/--root/--split) or --rgb/--x "
            "files"),
    Command("export", "rxssnet_core.commands.export",
            "export a checkpoint to ONNX (inputs rgb, x; outputs labels + confidence, or logits) or build a "
            "TensorRT engine (fp32/fp16/int8)"),
    Command("bench", "rxssnet_core.benchmarks.backends",
            "time the inference backends (torch, channels_last, onnxruntime, openvino fp32/bf16/int8, tensorrt) "
            "against the authors' forward in interleaved rounds; prints each row's ratio to it, end-to-end FPS, "
            "the CPU's features and matmul GFLOP/s, and (--checkpoint/--train-fusion) the reduced precisions' "
            "accuracy against fp32"),
    Command("calibrate", "rxssnet_core.commands.calibrate",
            "calibrate a camera rig: the X-to-RGB homography from point pairs (see docs/calibration.md)"),
)
