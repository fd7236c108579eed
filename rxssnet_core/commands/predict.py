"""`rxssnet predict`: label PNGs and coloured overlays for a dataset split or one RGB-X file pair."""

from __future__ import annotations

import argparse

from rxssnet_core.commands.evaluate import add_mode_arguments

NAME = "predict"
HELP = "predict label PNGs and colour overlays for a dataset split (--dataset/--root/--split) or --rgb/--x files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="model file (.safetensors or .pt), or a training checkpoint (checkpoints/last.pt)")
    parser.add_argument("--dataset", metavar="NAME", help="dataset registry name (with --root and --split)")
    parser.add_argument("--root", metavar="DIR", help="dataset root folder")
    parser.add_argument("--split", default="test", help="split to predict (default: test)")
    parser.add_argument("--rgb", metavar="FILE", help="one RGB image (with --x)")
    parser.add_argument("--x", metavar="FILE", help="the X image registered to --rgb")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity in [0, 1] (default 0.5)")
    add_mode_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rxssnet_core.commands.evaluate import load_model_and_dataset, mode_options, pick_device
    from rxssnet_core.evaluation.predict import predict_dataset, predict_files

    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha {args.alpha} must be in [0, 1]")
    file_mode = args.rgb is not None or args.x is not None
    if file_mode == (args.dataset is not None or args.root is not None):
        raise ValueError("give either --dataset NAME --root DIR [--split S], or --rgb FILE --x FILE")
    device = pick_device(args.device)
    options = mode_options(args)
    if file_mode:
        from pathlib import Path

        from rxssnet_core.evaluation.evaluator import load_eval_model
        from rxssnet_core.preprocessing import PreprocessConfig

        if args.rgb is None or args.x is None:
            raise ValueError("--rgb and --x go together: give both files")
        if not Path(args.checkpoint).is_file():
            raise FileNotFoundError(f"--checkpoint {args.checkpoint} does not exist")
        model = load_eval_model(args.checkpoint, map_location=device)
        metadata = getattr(model, "metadata", None) or {}
        if not metadata.get("preprocess"):
            raise ValueError(f"--checkpoint {args.checkpoint} stores no preprocessing metadata; predict through "
                             "--dataset/--root so the dataset's preprocessing applies")
        paths = predict_files(model, args.rgb, args.x, args.out, PreprocessConfig.from_dict(metadata["preprocess"]),
                              mode=args.mode, alpha=args.alpha, **options)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
        return 0
    if args.dataset is None or args.root is None:
        raise ValueError("--dataset and --root go together: give both")
    model, ds = load_model_and_dataset(args.checkpoint, args.dataset, args.root, args.split, device)
    written = predict_dataset(model, ds, args.out, mode=args.mode, alpha=args.alpha, **options)
    print(f"wrote {len(written)} predictions (label, color, overlay PNGs) to {args.out}")
    return 0
