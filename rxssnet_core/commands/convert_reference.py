# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet convert-reference`: an authors' released RXSSNet checkpoint -> our format."""

from __future__ import annotations

import argparse
from pathlib import Path

from rxssnet_core.models.checkpoints import convert_reference_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="authors' checkpoint (e.g. MFNet_Model_statedict.pth)")
    parser.add_argument("output", help="output model file (.safetensors recommended, or .pt)")
    parser.add_argument("--bgr", action="store_true",
                        help="record BGR input order: the authors' loader fed BGR images with RGB-ordered "
                             "ImageNet statistics, so their weights expect it (recommended for their files)")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.exists() and not args.force:
        raise FileExistsError(f"{output} exists; pass --force to overwrite it")
    model, dropped = convert_reference_checkpoint(args.input, output, bgr=args.bgr)
    reasons: dict[str, int] = {}
    for reason in dropped.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    cfg = model.config
    print(f"converted {args.input} -> {output}: variant {cfg.variant}, {cfg.num_classes} classes, "
          f"input order {cfg.input_order}")
    for reason, count in sorted(reasons.items()):
        print(f"  dropped {count:>3} tensor(s): {reason}")
    return 0
