# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet export`: a checkpoint to ONNX (checked against torch with ONNX Runtime) or a TensorRT engine.

TensorRT engines are strongly typed (TensorRT 10 and 11). fp16 (an ONNX file or an engine) follows a precision
plan measured on calibration images (`rxssnet_core.precision_plan`): the command prints its readiness report and
refuses a model whose fp16 labels agree with fp32 on fewer than 99.5 % of the calibration pixels. int8 inserts
Q/DQ nodes calibrated on `--calibration-dir` with NVIDIA ModelOpt (requirements/tensorrt.txt).
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
from typing import Any

from rxssnet_core import export as export_lib
from rxssnet_core.calibration_images import calibration_inputs
from rxssnet_core.errors import UsageError
from rxssnet_core.inference.artifacts import OUTPUT_SETS, engine_sidecar
from rxssnet_core.inference.backends.tensorrt_backend import BUILD_PRECISIONS
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.precision_plan import (
    MIN_FP16_AGREEMENT,
    PLAN_IMAGES,
    PrecisionPlanError,
    check_ready,
    precision_plan_for,
    readiness_report,
)
from rxssnet_core.preprocessing import PreprocessConfig

# Parity the exported graph must reach against torch on the CPU in fp32, or the export is reported as failed.
MAX_LOGIT_DIFF = 1e-3
MIN_ARGMAX_AGREEMENT = 0.999


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="RXSSNet checkpoint (.safetensors or .pt)")
    parser.add_argument("--format", default="onnx", choices=("onnx", "tensorrt"), help="output format")
    parser.add_argument("--out", required=True, help="output file (.onnx, or .engine for tensorrt)")
    parser.add_argument("--height", type=int, default=480, help="input height (default 480; the optimum "
                        "size with --dynamic)")
    parser.add_argument("--width", type=int, default=640, help="input width (default 640)")
    parser.add_argument("--dynamic", action="store_true",
                        help="free batch, height and width (TensorRT: profile 128x128 .. 2x the size)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17)")
    parser.add_argument("--precision", default=None, choices=BUILD_PRECISIONS,
                        help="fp32, fp16 or int8 (TensorRT only). Default: fp32 for ONNX, fp16 for TensorRT. fp16 "
                             "keeps in fp32 what a precision plan measured on the calibration images needs (the "
                             "readiness report is printed; a model below 99.5 %% label agreement is refused); "
                             "int8: Q/DQ nodes calibrated on --calibration-dir")
    parser.add_argument("--outputs", default="labels", choices=sorted(OUTPUT_SETS),
                        help="graph outputs: labels (uint8 labels + float32 confidence computed in the graph, "
                             "what the robot uses; default) or logits (B x K x H x W, for parity checks and "
                             "evaluation)")
    parser.add_argument("--calibration-dir", default=None,
                        help="fp16 and int8: folder of RGB/X pairs from the robot, preprocessed like inference "
                             "(generic RGB/ + Modal/ layout, <id>_rgb + <id>_th, or RGBA PNGs); fp16 without it "
                             "calibrates on synthetic scenes")
    parser.add_argument("--calibration-images", type=int, default=None,
                        help=f"images used, spread over the folder (default: {PLAN_IMAGES} for the fp16 plan, 64 "
                             "for int8)")
    parser.add_argument("--max-batch", type=int, default=1, help="TensorRT: largest batch (default 1)")
    parser.add_argument("--workspace-mb", type=int, default=None,
                        help="TensorRT builder workspace limit (MiB)")
    parser.add_argument("--skip-verify", action="store_true",
                        help="ONNX: skip the ONNX Runtime vs torch parity check")
    parser.add_argument("--verbose", action="store_true", help="TensorRT: verbose builder log")


def _check_arguments(args: argparse.Namespace) -> None:
    if not pathlib.Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint!r} does not exist")
    if args.height < 32 or args.width < 32:
        raise UsageError(f"--height/--width must be at least 32, got {args.height}x{args.width}")
    if args.opset < 17:
        raise UsageError(f"--opset {args.opset} is too old: RXSSNet needs opset >= 17 (LayerNormalization)")
    if args.format == "onnx" and args.precision == "int8":
        raise UsageError("--precision int8 applies to --format tensorrt; ONNX files are fp32 or fp16")
    if args.calibration_images is not None and args.calibration_images < 1:
        raise UsageError(f"--calibration-images must be >= 1, got {args.calibration_images}")
    if args.precision == "int8" and not args.calibration_dir:
        raise UsageError("--precision int8 needs --calibration-dir: a folder of RGB/X pairs from the robot")
    if args.max_batch < 1:
        raise UsageError(f"--max-batch must be >= 1, got {args.max_batch}")


def _verify(model: object, path: pathlib.Path, sizes: list[tuple[int, int]]) -> bool:
    ok = True
    for parity in export_lib.onnx_parity(model, path, sizes):
        height, width = parity["height"], parity["width"]
        good = parity["max_abs_diff"] <= MAX_LOGIT_DIFF and parity["argmax_agreement"] >= MIN_ARGMAX_AGREEMENT
        ok &= good
        print(f"parity ONNX Runtime vs torch at {height}x{width}: "
              f"max |{parity['output']} diff| {parity['max_abs_diff']:.2e}, "
              f"argmax agreement {100 * parity['argmax_agreement']:.3f} % {'ok' if good else 'FAILED'}")
    return ok


def _export_fp16_onnx(model: Any, args: argparse.Namespace, out: pathlib.Path) -> int:
    """fp16 ONNX: plan, readiness report, the typed graph, and its agreement with fp32 (ONNX Runtime, every fp16
    value stored in fp16); the file lands at `out` only if it agrees.
    """
    size = (args.height, args.width)
    images = args.calibration_images or PLAN_IMAGES
    plan = precision_plan_for(model, size, args.calibration_dir, images)
    print(readiness_report(plan))
    check_ready(plan)
    preprocess = PreprocessConfig.from_dict(model.metadata.get("preprocess") or {})
    arrays, _ = calibration_inputs(preprocess, size, model.config.x_channels, args.calibration_dir, images)
    with tempfile.TemporaryDirectory(prefix="rxssnet-fp16-") as scratch:
        fp32_path = export_lib.export_onnx(model, pathlib.Path(scratch) / "fp32.onnx", args.height, args.width,
                                           dynamic=args.dynamic, opset=args.opset, outputs=args.outputs)
        candidate = export_lib.fp16_onnx(model, plan, fp32_path, pathlib.Path(scratch) / "fp16.onnx")
        finite, agreement = export_lib.onnx_agreement(model, candidate, arrays)
        print(f"fp16 ONNX graph (ONNX Runtime, fp16 values stored in fp16) vs torch fp32 on the calibration images: "
              f"{100 * finite:.3f} % finite, label agreement {100 * agreement:.3f} %")
        if finite < 1.0 or agreement < MIN_FP16_AGREEMENT:
            raise PrecisionPlanError(
                f"fp16 refused: the fp16 ONNX graph agrees with fp32 on {100 * agreement:.3f} % of the labels "
                f"({100 * finite:.3f} % finite; required >= {100 * MIN_FP16_AGREEMENT:.1f} %); {out} was not "
                "written. Deploy in fp32, or calibrate on images from the robot (--calibration-dir)")
        out.parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(candidate).replace(out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB), fp16 with {len(plan.fp32_modules)} fp32 island(s), "
          f"opset {args.opset}")
    return 0


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    model = load_model(args.checkpoint, map_location="cpu").eval()
    out = pathlib.Path(args.out)
    if args.format == "onnx" and args.precision == "fp16":
        return _export_fp16_onnx(model, args, out)
    if args.format == "tensorrt":
        export_lib.export_tensorrt(
            model, out, args.height, args.width, dynamic=args.dynamic, opset=args.opset,
            precision=args.precision or "fp16", calibration_dir=args.calibration_dir,
            calibration_images=args.calibration_images, max_batch=args.max_batch,
            workspace_mb=args.workspace_mb, verbose=args.verbose, outputs=args.outputs)
        print(f"wrote TensorRT engine {out} ({out.stat().st_size / 2**20:.1f} MiB), "
              f"description {engine_sidecar(out)}")
        return 0

    export_lib.export_onnx(model, out, args.height, args.width, dynamic=args.dynamic, opset=args.opset,
                           outputs=args.outputs)
    shape = "B x {3, C} x H x W (dynamic)" if args.dynamic else f"1 x {{3, C}} x {args.height} x {args.width}"
    names = "labels, confidence" if args.outputs == "labels" else "logits"
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB), opset {args.opset}, inputs rgb, x ({shape}), "
          f"outputs {names}")
    if args.skip_verify:
        return 0
    sizes = [(args.height, args.width)]
    if args.dynamic:  # a size that needs padding, to prove the pad/crop path generalises
        sizes.append((args.height * 3 // 4 + 8, args.width * 3 // 4 + 20))
    try:
        ok = _verify(model, out, sizes)
    except ValueError as error:  # onnxruntime missing: the export itself is done
        print(f"parity check skipped: {error}")
        return 0
    return 0 if ok else 1
