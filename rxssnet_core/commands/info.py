"""`rxssnet info`: parameters and MACs per part for a variant, class count and input size."""

from __future__ import annotations

import argparse
import json

from rxssnet_core.config import ENCODER_VARIANTS, ModelConfig
from rxssnet_core.errors import UsageError
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.models.complexity import measure_complexity
from rxssnet_core.models.rxssnet import build_model


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
    parser.add_argument("--checkpoint", default=None, help="describe this checkpoint's model instead")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if args.height < 1 or args.width < 1:
        raise UsageError(f"--height/--width must be positive, got {args.height}x{args.width}")
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
