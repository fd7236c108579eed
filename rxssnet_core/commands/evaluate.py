"""`rxssnet eval`: score a checkpoint on a dataset split (mIoU, per-class IoU, accuracies) and write reports."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "eval"
HELP = "evaluate a checkpoint on a dataset split: metrics.json, metrics.md, confusion-matrix and IoU plots"
DEGRADED_HELP = ("also score the model with X missing, X blank, X noisy (--noise-std), X shifted (--shift-px) and "
                 "RGB missing, in one table beside the fused score (degraded_modes.md and .json in --out)")


def add_dataset_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--dataset", required=required, metavar="NAME",
                        help="dataset registry name (see `rxssnet datasets`)")
    parser.add_argument("--root", required=required, metavar="DIR", help="dataset root folder")
    parser.add_argument("--split", default="test", help="split to use (default: test)")


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", default="single", choices=("single", "multiscale", "sliding"),
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="model file (.safetensors or .pt), or a training checkpoint (checkpoints/last.pt)")
    add_dataset_arguments(parser)
    add_mode_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the reports")
    parser.add_argument("--num-workers", type=int, default=0, help="data loading processes (default 0)")
    parser.add_argument("--neutral-x", action="store_true",
                        help="feed an uninformative X (the normalisation mean) to measure what X contributes")
    add_degraded_arguments(parser)


def add_degraded_arguments(parser: argparse.ArgumentParser) -> None:
    from rxssnet_core.degradation import DEFAULT_NOISE_STD, DEFAULT_SHIFT_PX

    parser.add_argument("--degraded-modes", action="store_true", help=DEGRADED_HELP)
    parser.add_argument("--noise-std", type=float, default=DEFAULT_NOISE_STD, metavar="STD",
                        help="with --degraded-modes: std of the Gaussian noise added to X, in normalised units "
                             f"(1 = one normalisation std; default {DEFAULT_NOISE_STD})")
    parser.add_argument("--shift-px", type=int, default=DEFAULT_SHIFT_PX, metavar="N",
                        help="with --degraded-modes: shift X right and down by N pixels, as a wrong extrinsic "
                             f"calibration does (default {DEFAULT_SHIFT_PX})")


def degradation_params(args: argparse.Namespace) -> Any:
    """--noise-std / --shift-px as DegradationParams; a clear error naming the flag when out of range."""
    from rxssnet_core.degradation import DegradationParams
    from rxssnet_core.preprocessing import PreprocessError

    if args.degraded_modes and args.neutral_x:
        raise ValueError("--neutral-x and --degraded-modes cannot be combined: --degraded-modes already scores "
                         "the neutral X (row x_missing) beside the fused score; drop --neutral-x")
    try:
        return DegradationParams(noise_std=args.noise_std, shift_px=args.shift_px)
    except PreprocessError as error:
        raise ValueError(f"--noise-std / --shift-px: {error}") from None


def mode_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"scales": args.scales, "flip": args.flip, "window": args.window, "stride": args.stride}


def pick_device(name: str | None) -> Any:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda given but CUDA is not available; use --device cpu")
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def load_model_and_dataset(checkpoint: str, dataset: str, root: str, split: str, device: Any) -> tuple[Any, Any]:
    """The checkpoint's model (eval mode) and the split built with the checkpoint's own preprocessing."""
    from pathlib import Path

    from rxssnet_core.data import build_dataset
    from rxssnet_core.evaluation.evaluator import load_eval_model
    from rxssnet_core.preprocessing import PreprocessConfig

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {checkpoint} does not exist")
    model = load_eval_model(checkpoint, map_location=device)
    metadata = getattr(model, "metadata", None) or {}
    preprocess = PreprocessConfig.from_dict(metadata["preprocess"]) if metadata.get("preprocess") else None
    ds = build_dataset(dataset, root, split, preprocess=preprocess, augment=None)
    if ds.info.num_classes != model.config.num_classes:
        raise ValueError(
            f"--checkpoint {checkpoint} predicts {model.config.num_classes} classes but dataset {dataset!r} has "
            f"{ds.info.num_classes}; use a checkpoint trained on this dataset")
    return model, ds


def run(args: argparse.Namespace) -> int:
    from rxssnet_core.evaluation.evaluator import evaluate_model
    from rxssnet_core.evaluation.report import write_reports

    params = degradation_params(args)
    device = pick_device(args.device)
    model, ds = load_model_and_dataset(args.checkpoint, args.dataset, args.root, args.split, device)
    metrics = evaluate_model(model, ds, mode=args.mode, device=device, neutral_x=args.neutral_x,
                             num_workers=args.num_workers, progress=True, **mode_options(args))
    if metrics.num_pixels == 0:
        raise ValueError(f"split {args.split!r} of {args.root} has no labelled pixels (no label files, or all 255): "
                         "nothing to score; use `rxssnet predict` for unlabelled data")
    extra = {"checkpoint": args.checkpoint, "dataset": ds.info.name, "root": args.root, "split": args.split,
             "images": len(ds), "mode": args.mode, "flip": args.flip, "neutral_x": args.neutral_x}
    if args.mode == "multiscale":
        extra["scales"] = list(args.scales)
    if args.mode == "sliding":
        extra["window"] = list(args.window or (480, 640))
        extra["stride"] = list(args.stride) if args.stride else "2/3 of the window"
    paths = write_reports(metrics, args.out, list(ds.info.class_names), extra=extra)
    print(f"{ds.info.name} {args.split} ({len(ds)} images, {args.mode}): mIoU {metrics.miou * 100:.2f}%  "
          f"pixel acc {metrics.pixel_accuracy * 100:.2f}%  mean acc {metrics.mean_accuracy * 100:.2f}%")
    for name, iou in zip(ds.info.class_names, metrics.iou):
        print(f"  {name:>20s}: {'n/a' if iou != iou else f'{iou * 100:.2f}'}")
    if args.degraded_modes:
        paths.update(run_degraded_modes(args, model, ds, device, metrics, params, extra))
    print(f"reports: {', '.join(str(p) for p in paths.values())}")
    return 0


def run_degraded_modes(args: argparse.Namespace, model: Any, ds: Any, device: Any, fused: Any, params: Any,
                       extra: dict[str, Any]) -> dict[str, Any]:
    """Scores every degradation (the fused score is `fused`), prints the table, writes degraded_modes.*."""
    from rxssnet_core.evaluation.degraded import (
        FUSED,
        MODE_ROWS,
        degraded_table,
        evaluate_degraded_modes,
        write_degraded_report,
    )

    results = {FUSED: fused, **evaluate_degraded_modes(model, ds, params, modes=MODE_ROWS[1:], mode=args.mode,
                                                       device=device, num_workers=args.num_workers,
                                                       progress=True, **mode_options(args))}
    names = list(ds.info.class_names)
    print("degraded modes:")
    print(degraded_table(results, names, params), end="")
    written = write_degraded_report(results, args.out, names, params, extra=extra)
    return {"degraded_" + key: path for key, path in written.items()}
