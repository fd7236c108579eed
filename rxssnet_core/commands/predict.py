# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet predict`: label PNGs and coloured overlays for a dataset split or one RGB-X file pair.

--mode single (the default) runs the frame pipeline, as the node does, on --backend; the test-time modes run
the torch model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from rxssnet_core.commands.evaluate import load_model_and_dataset, pick_device, pipeline_segmenter
from rxssnet_core.commands.options import (
    add_backend_arguments,
    add_mode_arguments,
    check_backend_arguments,
    mode_options,
)
from rxssnet_core.errors import UsageError
from rxssnet_core.evaluation.evaluator import load_eval_model
from rxssnet_core.evaluation.predict import predict_dataset, predict_files, predict_pairs, read_file_pair
from rxssnet_core.frame_pipeline import FramePipeline
from rxssnet_core.inference import Segmenter
from rxssnet_core.preprocessing import PreprocessConfig


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
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.alpha <= 1.0:
        raise UsageError(f"--alpha {args.alpha} must be in [0, 1]")
    file_mode = args.rgb is not None or args.x is not None
    if file_mode == (args.dataset is not None or args.root is not None):
        raise UsageError("give either --dataset NAME --root DIR [--split S], or --rgb FILE --x FILE")
    check_backend_arguments(args)
    device = pick_device(args.device)
    if file_mode:
        if args.rgb is None or args.x is None:
            raise UsageError("--rgb and --x go together: give both files")
        if not Path(args.checkpoint).is_file():
            raise FileNotFoundError(f"--checkpoint {args.checkpoint} does not exist")
        rgb, x = read_file_pair(args.rgb, args.x)  # a bad file is reported before the model loads
        model = load_eval_model(args.checkpoint, map_location=device)
        metadata = getattr(model, "metadata", None) or {}
        if not metadata.get("preprocess"):
            raise UsageError(f"--checkpoint {args.checkpoint} stores no preprocessing metadata; predict through "
                             "--dataset/--root so the dataset's preprocessing applies")
        if args.mode != "single":
            paths = predict_files(model, args.rgb, args.x, args.out, PreprocessConfig.from_dict(metadata["preprocess"]),
                                  mode=args.mode, alpha=args.alpha, **mode_options(args))
        else:
            size = args.input_size or (tuple(rgb.shape[:2]) if args.backend in ("openvino", "tensorrt") else None)
            with Segmenter.from_model(model, backend=args.backend, device=str(device), precision=args.precision,
                                      input_size=size, source=args.checkpoint,
                                      calibration_dir=args.calibration_dir) as segmenter:
                paths = predict_pairs(FramePipeline(segmenter), [(Path(args.rgb).stem, rgb, x)], args.out,
                                      args.alpha)[0]
        print("wrote " + ", ".join(str(p) for p in paths.values()))
        return 0
    if args.dataset is None or args.root is None:
        raise UsageError("--dataset and --root go together: give both")
    model, ds = load_model_and_dataset(args.checkpoint, args.dataset, args.root, args.split, device)
    if args.mode != "single":
        written = predict_dataset(model, ds, args.out, mode=args.mode, alpha=args.alpha, **mode_options(args))
    else:
        with pipeline_segmenter(model, ds, args, device) as segmenter:
            raws = (ds.read_raw(i) for i in tqdm(range(len(ds)), desc="predict", unit="img", dynamic_ncols=True))
            written = predict_pairs(FramePipeline(segmenter), ((r.stem, r.rgb, r.x) for r in raws), args.out,
                                    args.alpha)
    print(f"wrote {len(written)} predictions (label, color, overlay PNGs) to {args.out}")
    return 0
