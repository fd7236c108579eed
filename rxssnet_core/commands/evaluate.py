# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet eval`: score a checkpoint on a dataset split (mIoU, per-class IoU, accuracies) and write reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from rxssnet_core.commands.options import (
    add_backend_arguments,
    add_degraded_arguments,
    add_mode_arguments,
    check_backend_arguments,
    mode_options,
)
from rxssnet_core.data import build_dataset
from rxssnet_core.degradation import DegradationParams
from rxssnet_core.errors import UsageError
from rxssnet_core.evaluation.degraded import (
    FUSED,
    MODE_ROWS,
    degraded_table,
    evaluate_degraded_modes,
    write_degraded_report,
)
from rxssnet_core.evaluation.evaluator import evaluate_model, evaluate_pipeline, load_eval_model
from rxssnet_core.evaluation.report import write_reports
from rxssnet_core.frame_pipeline import FramePipeline
from rxssnet_core.inference import Segmenter
from rxssnet_core.preprocessing import PreprocessConfig, PreprocessError


def add_dataset_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--dataset", required=required, metavar="NAME",
                        help="dataset registry name (see `rxssnet datasets`)")
    parser.add_argument("--root", required=required, metavar="DIR", help="dataset root folder")
    parser.add_argument("--split", default="test", help="split to use (default: test)")


def pipeline_segmenter(model: Any, dataset: Any, args: argparse.Namespace, device: Any) -> Any:
    """The Segmenter that `--mode single` scores through the frame pipeline: the loaded model with the dataset's
    preprocessing, on --backend / --precision (fixed-size backends: --input-size or the first image's size).
    """
    size = args.input_size
    if size is None and args.backend in ("openvino", "tensorrt") and len(dataset):
        size = tuple(dataset.read_raw(0).rgb.shape[:2])
    metadata = {**(getattr(model, "metadata", None) or {}), "preprocess": dataset.preprocess.to_dict()}
    return Segmenter.from_model(model, backend=args.backend, device=str(device), precision=args.precision,
                                input_size=size, metadata=metadata, source=args.checkpoint,
                                calibration_dir=args.calibration_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="model file (.safetensors or .pt), or a training checkpoint (checkpoints/last.pt)")
    add_dataset_arguments(parser)
    add_mode_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the reports")
    parser.add_argument("--num-workers", type=int, default=0, help="data loading processes (default 0)")
    parser.add_argument("--neutral-x", action="store_true",
                        help="feed an uninformative X (the normalisation mean) to measure what X contributes")
    add_degraded_arguments(parser)


def degradation_params(args: argparse.Namespace) -> Any:
    """--noise-std / --shift-px as DegradationParams; a clear error naming the flag when out of range."""
    if args.degraded_modes and args.neutral_x:
        raise UsageError("--neutral-x and --degraded-modes cannot be combined: --degraded-modes already scores "
                         "the neutral X (row x_missing) beside the fused score; drop --neutral-x")
    try:
        return DegradationParams(noise_std=args.noise_std, shift_px=args.shift_px)
    except PreprocessError as error:
        raise UsageError(f"--noise-std / --shift-px: {error}") from None


def pick_device(name: str | None) -> Any:
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda given but CUDA is not available; use --device cpu")
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def load_model_and_dataset(checkpoint: str, dataset: str, root: str, split: str, device: Any) -> tuple[Any, Any]:
    """The checkpoint's model (eval mode) and the split built with the checkpoint's own preprocessing."""
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {checkpoint} does not exist")
    model = load_eval_model(checkpoint, map_location=device)
    metadata = getattr(model, "metadata", None) or {}
    preprocess = PreprocessConfig.from_dict(metadata["preprocess"]) if metadata.get("preprocess") else None
    ds = build_dataset(dataset, root, split, preprocess=preprocess, augment=None)
    if ds.info.num_classes != model.config.num_classes:
        raise UsageError(
            f"--checkpoint {checkpoint} predicts {model.config.num_classes} classes but dataset {dataset!r} has "
            f"{ds.info.num_classes}; use a checkpoint trained on this dataset")
    return model, ds


def run(args: argparse.Namespace) -> int:
    params = degradation_params(args)
    check_backend_arguments(args)
    device = pick_device(args.device)
    model, ds = load_model_and_dataset(args.checkpoint, args.dataset, args.root, args.split, device)
    if args.mode == "single" and not args.neutral_x:
        # the reference protocol is one frame at a time: the node's own path, on the chosen backend
        with pipeline_segmenter(model, ds, args, device) as segmenter:
            metrics = evaluate_pipeline(FramePipeline(segmenter), ds, progress=True)
    else:
        metrics = evaluate_model(model, ds, mode=args.mode, device=device, neutral_x=args.neutral_x,
                                 num_workers=args.num_workers, progress=True, **mode_options(args))
    if metrics.num_pixels == 0:
        raise UsageError(f"split {args.split!r} of {args.root} has no labelled pixels (no label files, or all 255): "
                         "nothing to score; use `rxssnet predict` for unlabelled data")
    extra = {"checkpoint": args.checkpoint, "dataset": ds.info.name, "root": args.root, "split": args.split,
             "images": len(ds), "mode": args.mode, "flip": args.flip, "neutral_x": args.neutral_x,
             "backend": args.backend, "precision": args.precision}
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
    results = {FUSED: fused, **evaluate_degraded_modes(model, ds, params, modes=MODE_ROWS[1:], mode=args.mode,
                                                       device=device, num_workers=args.num_workers,
                                                       progress=True, **mode_options(args))}
    names = list(ds.info.class_names)
    print("degraded modes:")
    print(degraded_table(results, names, params), end="")
    written = write_degraded_report(results, args.out, names, params, extra=extra,
                                    model_metadata=getattr(model, "metadata", None))
    return {"degraded_" + key: path for key, path in written.items()}
