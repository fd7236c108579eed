# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet info`: parameters and MACs per part for a variant, class count and input size; with a checkpoint and
`--precision fp16`, the fp16 readiness report (`rxssnet_core.precision_plan`).
"""

from __future__ import annotations

import argparse
import json

from rxssnet_core.config import ENCODER_VARIANTS, ModelConfig
from rxssnet_core.errors import UsageError
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.models.complexity import measure_complexity
from rxssnet_core.models.rxssnet import build_model
from rxssnet_core.precision_plan import PLAN_IMAGES, check_ready, precision_plan_for, readiness_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", default="tiny", choices=sorted(ENCODER_VARIANTS),
                        help="ConvNeXt V2 encoder size (default: tiny, the paper's)")
    parser.add_argument("--num-classes", type=int, default=9, help="number of classes K (default: 9, MFNet)")
    parser.add_argument("--x-channels", type=int, default=3, choices=(1, 3), help="channels of the X input")
    parser.add_argument("--x-stem", default="replicate", choices=("replicate", "native"),
                        help="with 1-channel X: replicate to 3 (reference) or a native 1-channel stem")
    parser.add_argument("--decoder-dim", type=int, default=None, help="PLPD width (default: the variant's)")
    parser.add_argument("--height", type=int, default=480, help="input height (default 480)")
    parser.add_argument("--width", type=int, default=640, help="input width (default 640)")
    parser.add_argument("checkpoint_path", nargs="?", default=None, metavar="CHECKPOINT",
                        help="describe this checkpoint's model (same as --checkpoint)")
    parser.add_argument("--checkpoint", default=None, help="describe this checkpoint's model instead")
    parser.add_argument("--precision", default=None, choices=("fp16",),
                        help="fp16: measure the checkpoint's activation ranges at --height x --width and print the "
                             "fp16 readiness report (exit 1 when fp16 would be refused)")
    parser.add_argument("--calibration-dir", default=None,
                        help="with --precision: RGB/X pairs from the robot (default: synthetic scenes)")
    parser.add_argument("--calibration-images", type=int, default=PLAN_IMAGES,
                        help=f"with --precision: images used (default {PLAN_IMAGES})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if args.height < 1 or args.width < 1:
        raise UsageError(f"--height/--width must be positive, got {args.height}x{args.width}")
    if args.checkpoint_path and args.checkpoint and args.checkpoint_path != args.checkpoint:
        raise UsageError("give the checkpoint once: as CHECKPOINT or as --checkpoint")
    args.checkpoint = args.checkpoint or args.checkpoint_path
    if args.precision and not args.checkpoint:
        raise UsageError("--precision fp16 measures a trained model: give its checkpoint (rxssnet info CKPT "
                         "--precision fp16)")
    if args.calibration_images < 1:
        raise UsageError(f"--calibration-images must be >= 1, got {args.calibration_images}")
    if args.precision:
        plan = precision_plan_for(load_model(args.checkpoint).eval(), (args.height, args.width),
                                  args.calibration_dir, args.calibration_images)
        print(readiness_report(plan))
        check_ready(plan)
        return 0
    if args.checkpoint:
        model = load_model(args.checkpoint)
    else:
        model = build_model(ModelConfig(variant=args.variant, num_classes=args.num_classes,
                                        x_channels=args.x_channels, x_stem=args.x_stem,
                                        decoder_dim=args.decoder_dim))
    rows = measure_complexity(model, args.height, args.width)
    if args.json:
        print(json.dumps({"config": model.config.to_dict(), "height": args.height, "width": args.width,
                          "parts": [row.as_dict() for row in rows]}, indent=2))
        return 0
    cfg = model.config
    print(f"RXSSNet {cfg.variant}, K={cfg.num_classes}, X channels {cfg.x_channels} ({cfg.x_stem}), "
          f"decoder {cfg.decoder_dim}, input {args.height}x{args.width}")
    print(f"{'part':<24}{'parameters':>16}{'GMACs':>12}")
    for row in rows:
        print(f"{row.part:<24}{row.parameters:>16,}{row.macs / 1e9:>12.2f}")
    return 0
