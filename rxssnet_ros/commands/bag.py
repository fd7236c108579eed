# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag`: turn a dataset split into a rosbag2 (`convert`), score a model on a bag offline (`eval`), pick
the pairs of a recording worth labelling (`mine`).

No ROS installation is needed: bags are read and written with the pure-Python `rosbags` library.

    rxssnet bag convert --dataset mfnet --root /data/ir_seg_dataset --split test --out mfnet_test_bag
    rxssnet bag eval mfnet_test_bag --checkpoint model.safetensors --out reports/ --write-predictions pred_bag
    rxssnet bag eval robot_run --checkpoint model.safetensors --no-labels --rgb-topic /camera/color/image_raw \
        --x-topic /thermal/image_raw --x-alignment homography --alignment-plane-m 5
    rxssnet bag mine robot_run --checkpoint model.safetensors --budget 40 --out to_label/

Robot recordings work as recorded: CompressedImage topics (found from the base topic name), the extrinsic from
/tf_static, ROS 1 `.bag` files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import ReaderError, WriterError

from rxssnet_core.alignment import ALIGNMENT_MODES, DEFAULT_INTERPOLATION, AlignmentConfig
from rxssnet_core.commands.options import add_backend_arguments, add_degraded_arguments
from rxssnet_core.degradation import DegradationParams
from rxssnet_core.evaluation.degraded import degraded_table, write_degraded_report
from rxssnet_core.inference import Segmenter
from rxssnet_core.preprocessing import PreprocessError
from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_layout import BagTopics
from rxssnet_ros.bag_tools.convert import convert_dataset_to_bag
from rxssnet_ros.bag_tools.degraded_replay import evaluate_bag_degraded
from rxssnet_ros.bag_tools.mining import MineConfig, check_output_folder, mine_bag
from rxssnet_ros.bag_tools.recording_stats import describe
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, evaluate_bag
from rxssnet_ros.bag_tools.report_plots import latency_stats, write_eval_report

DEFAULT_RGB_TOPIC = "/camera/rgb/image"
DEFAULT_X_TOPIC = "/camera/x/image"
DEFAULT_GT_TOPIC = "/camera/labels_gt"


def _add_topic_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rgb-topic", default=DEFAULT_RGB_TOPIC, help=f"RGB image topic (default {DEFAULT_RGB_TOPIC})")
    parser.add_argument("--x-topic", default=DEFAULT_X_TOPIC, help=f"X image topic (default {DEFAULT_X_TOPIC})")
    parser.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC,
                        help=f"ground-truth label image topic (default {DEFAULT_GT_TOPIC})")


def _add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, metavar="NAME", help="dataset registry name (`rxssnet datasets`)")
    parser.add_argument("--root", required=True, metavar="DIR", help="dataset root folder")
    parser.add_argument("--split", default="test", help="split to convert (default: test)")
    parser.add_argument("--out", required=True, metavar="BAG", help="bag directory to create (must not exist)")
    parser.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"), help="storage plugin (default mcap)")
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second of the stamps (default 10)")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="move each X stamp by a uniform random offset in [-J, +J] ms (default 0: X shares the "
                             "RGB stamp), as an unsynchronised second camera would")
    parser.add_argument("--camera-info", action="store_true",
                        help="also write a plausible pinhole CameraInfo per camera on <namespace>/camera_info")
    parser.add_argument("--seed", type=int, default=0, help="seed of the jitter (default 0)")
    _add_topic_arguments(parser)
    parser.add_argument("--rgb-frame", default="camera_rgb_optical_frame", help="frame id of RGB and ground truth")
    parser.add_argument("--x-frame", default="camera_x_optical_frame", help="frame id of X")
    parser.add_argument("--max-frames", type=int, default=None, help="convert only the first N samples")
    parser.add_argument("--overwrite", action="store_true", help="replace --out when it is an existing bag")
    parser.add_argument("--compress", default=None, choices=("jpeg", "png"),
                        help="write the cameras as image_transport records them: CompressedImage on "
                             "<topic>/compressed (8-bit X in jpeg too with jpeg, else png) and depth as "
                             "compressedDepth on <x topic>/compressedDepth; ground truth stays raw")


def _add_pairing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slop", type=float, default=0.05,
                        help="largest RGB-X stamp difference of a pair, s (the node's `slop`, default 0.05)")
    parser.add_argument("--queue-size", type=int, default=10,
                        help="messages held per input by the pairing rule (the node's `queue_size`, default 10)")
    parser.add_argument("--inter-message-lower-bound", type=float, default=0.0,
                        help="least time between two frames of one camera, s (the node's parameter, default 0)")


def _add_alignment_arguments(parser: argparse.ArgumentParser) -> None:
    align = parser.add_argument_group("X registration (the node's x_alignment parameters)")
    align.add_argument("--x-alignment", default="none", choices=ALIGNMENT_MODES,
                       help="how X is registered to RGB (default none: X must have the RGB size)")
    align.add_argument("--x-homography", type=float, nargs=9, default=None, metavar="H",
                       help="row-major 3x3 homography from X pixels to RGB pixels")
    align.add_argument("--x-extrinsic-rotation", type=float, nargs=9, default=None, metavar="R",
                       help="row-major rotation X optical frame -> RGB optical frame")
    align.add_argument("--x-extrinsic-translation", type=float, nargs=3, default=None, metavar="T",
                       help="translation X optical frame -> RGB optical frame, metres")
    align.add_argument("--x-extrinsic-source", default="auto", choices=("auto", "parameters", "tf"),
                       help="extrinsic X -> RGB: the --x-extrinsic-* options, or the bag's /tf_static and /tf "
                            "looked up by the images' frame ids (tf); auto (default): tf when the alignment needs "
                            "an extrinsic, none is given and the bag records tf")
    align.add_argument("--alignment-plane-m", type=float, default=None,
                       help="scene distance for a homography computed from the camera_infos, metres")
    align.add_argument("--x-interpolation", default=None, choices=("nearest", "linear", "cubic", "area"),
                       help="resampling of X (default: nearest for depth, linear otherwise)")
    align.add_argument("--rgb-info-topic", default=None, help="RGB CameraInfo (default <rgb namespace>/camera_info)")
    align.add_argument("--x-info-topic", default=None, help="X CameraInfo (default <x namespace>/camera_info)")


def _add_mine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", metavar="BAG", help="rosbag2 directory, a bare .mcap / .db3 file, or a ROS 1 .bag")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="model file (.safetensors or .pt)")
    parser.add_argument("--budget", type=int, required=True, metavar="N", help="how many pairs to pick for labelling")
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create (new or empty)")
    parser.add_argument("--min-gap", type=float, default=1.0, metavar="S",
                        help="least time between two picks, s (default 1; halved when the budget cannot be filled)")
    parser.add_argument("--min-distance", type=float, default=0.25, metavar="D",
                        help="least thumbnail-embedding distance between two picks, 0..2 (default 0.25)")
    parser.add_argument("--rgb-topic", default=DEFAULT_RGB_TOPIC, help=f"RGB image topic (default {DEFAULT_RGB_TOPIC})")
    parser.add_argument("--x-topic", default=DEFAULT_X_TOPIC, help=f"X image topic (default {DEFAULT_X_TOPIC})")
    _add_pairing_arguments(parser)
    add_backend_arguments(parser, what="every pair")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    _add_alignment_arguments(parser)


def _add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", metavar="BAG", help="rosbag2 directory, a bare .mcap / .db3 file, or a ROS 1 .bag")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="model file (.safetensors or .pt)")
    _add_topic_arguments(parser)
    _add_pairing_arguments(parser)
    parser.add_argument("--out", default="bag_eval", metavar="DIR", help="report folder (default ./bag_eval)")
    add_backend_arguments(parser, what="every pair")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before the first frame (default 1)")
    parser.add_argument("--no-labels", action="store_true",
                        help="the recording has no ground truth: report latency, throughput, pairing statistics "
                             "and predicted class shares instead of scores (with --write-predictions for a copy "
                             "of the bag with the predictions)")
    parser.add_argument("--write-predictions", default=None, metavar="OUT_BAG",
                        help="write a bag with every input message plus <prediction-ns>/labels and "
                             "<prediction-ns>/overlay (for rviz or Foxglove)")
    parser.add_argument("--prediction-ns", default="/segment_node",
                        help="namespace of the predicted topics (default /segment_node, as the live node)")
    parser.add_argument("--overlay-alpha", type=float, default=0.5, help="colour weight of the overlay (0.5)")
    parser.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"),
                        help="storage plugin of --write-predictions (default mcap)")
    add_degraded_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace --write-predictions when it exists")
    _add_alignment_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bag_command", metavar="{convert,eval,mine}")
    convert = sub.add_parser("convert", help="write a dataset split as a rosbag2 (RGB, X, ground truth, info)",
                             description="Write a dataset split as a rosbag2 with RGB (rgb8), X (its own encoding) "
                                         "and ground-truth (mono8/mono16) sensor_msgs/Image topics sharing one "
                                         "stamp per frame, and the class names on /rxssnet/dataset_info "
                                         "(--compress: the cameras as CompressedImage, as image_transport "
                                         "records them).")
    _add_convert_arguments(convert)
    evaluate = sub.add_parser("eval", help="replay a bag offline: pair, segment, score against ground truth",
                              description="Replay a bag offline with the node's pairing rule, segment every pair "
                                          "and score it against the ground truth with the exact RGB stamp. "
                                          "Writes metrics.json, metrics.md and plots (IoU, latency). Reads "
                                          "rosbag2 and ROS 1 bags, raw and compressed image topics (a base topic "
                                          "name finds <topic>/compressed), and the extrinsic from /tf_static.")
    _add_eval_arguments(evaluate)
    mine = sub.add_parser("mine", help="pick the pairs of a recording worth labelling; write them as a dataset",
                          description="Replay a bag like `bag eval` (the node's pairing rule and frame pipeline), "
                                      "score every pair for how much labelling it would teach the model "
                                      "(uncertainty, fused vs RGB-only disagreement, rare classes: the score "
                                      "the node puts in ~/frame_timing) and pick --budget pairs that score "
                                      "high and lie apart in time and appearance. Writes rgb/, x/, labels/ "
                                      "(pre-labels), dataset.yaml (train with dataset: generic), the "
                                      "pre-labels for CVAT (\"Segmentation mask 1.1\": cvat_prelabels.zip), "
                                      "scores.csv and contact_sheet.png.")
    _add_mine_arguments(mine)
    parser.set_defaults(_bag_parser=parser)


# ---------------------------------------------------------------------------------------------------------------


def run_convert(args: argparse.Namespace) -> int:
    topics = BagTopics(rgb=args.rgb_topic, x=args.x_topic, gt=args.gt_topic)
    summary = convert_dataset_to_bag(
        args.dataset, args.root, args.split, args.out, storage=args.storage, rate=args.rate,
        jitter_ms=args.jitter_ms, camera_info=args.camera_info, seed=args.seed, topics=topics,
        rgb_frame=args.rgb_frame, x_frame=args.x_frame, max_frames=args.max_frames, overwrite=args.overwrite,
        compress=args.compress)
    print(summary.describe())
    return 0


def _alignment(args: argparse.Namespace, modality: str) -> Any:
    if args.x_alignment == "none":
        return None
    return AlignmentConfig(mode=args.x_alignment, homography=args.x_homography,
                           extrinsic_rotation=args.x_extrinsic_rotation,
                           extrinsic_translation=args.x_extrinsic_translation,
                           plane_distance_m=args.alignment_plane_m,
                           modality=modality if modality in DEFAULT_INTERPOLATION else "thermal",
                           interpolation=args.x_interpolation)


def run_eval(args: argparse.Namespace) -> int:
    if not Path(args.bag).exists():
        raise FileNotFoundError(f"bag {args.bag!r} does not exist; give a rosbag2 directory, a .mcap/.db3 file "
                                "or a ROS 1 .bag")
    if args.degraded_modes and args.no_labels:
        raise BagError("--degraded-modes scores each mode against the labels; it cannot be combined with "
                       "--no-labels")
    params = None
    if args.degraded_modes:
        try:
            params = DegradationParams(noise_std=args.noise_std, shift_px=args.shift_px)
        except PreprocessError as error:
            raise BagError(f"--noise-std / --shift-px: {error}") from None
    # Options first (a typo must not cost a model load), then the model, then the alignment (it needs the
    # checkpoint's modality).
    config = BagEvalConfig(
        rgb_topic=args.rgb_topic, x_topic=args.x_topic, gt_topic=args.gt_topic, slop_s=args.slop,
        queue_size=args.queue_size, inter_message_lower_bound_s=args.inter_message_lower_bound,
        rgb_info_topic=args.rgb_info_topic, x_info_topic=args.x_info_topic,
        write_predictions=Path(args.write_predictions) if args.write_predictions else None,
        predictions_storage=args.storage, overwrite=args.overwrite, prediction_ns=args.prediction_ns,
        overlay_alpha=args.overlay_alpha, warmup=args.warmup, extrinsic_source=args.x_extrinsic_source,
        labels=not args.no_labels)
    segmenter = Segmenter.from_checkpoint(args.checkpoint, backend=args.backend, device=args.device,
                                          precision=args.precision, input_size=args.input_size,
                                          calibration_dir=args.calibration_dir)
    config.alignment = _alignment(args, segmenter.preprocess_config.modality)
    result = evaluate_bag(args.bag, segmenter, config)
    info = result.dataset_info or {}
    extra = {"bag": str(result.bag), "checkpoint": args.checkpoint, "backend": segmenter.backend_name,
             "device": segmenter.device, "precision": segmenter.precision,
             "dataset": info.get("dataset", "unknown"), "split": info.get("split", "unknown"),
             "frames_scored": result.counts["scored"], "slop_s": args.slop, "queue_size": args.queue_size,
             "x_alignment": args.x_alignment, "labels": not args.no_labels, "recording": result.recording}
    if result.predictions_bag is not None:
        extra["predictions_bag"] = str(result.predictions_bag)
    paths = write_eval_report(result.metrics, args.out, result.class_names, section="bag_eval",
                              latencies_ms=result.latencies_ms, stage_ms=result.stage_ms,
                              issues=result.issues.to_list(), counts=result.counts, frames=result.frames,
                              extra=extra)
    metrics = result.metrics
    latency = latency_stats(result.latencies_ms)

    def pct(value: float) -> str:
        return "n/a" if value != value else f"{value * 100:.2f}%"

    if args.no_labels:
        print(f"{result.bag}: {result.counts['segmented']} frames segmented (no labels: nothing scored)")
    else:
        print(f"{result.bag}: {result.counts['scored']} frames scored, mIoU {pct(metrics.miou)}  "
              f"pixel acc {pct(metrics.pixel_accuracy)}  mean acc {pct(metrics.mean_accuracy)}")
        for name, iou in zip(result.class_names, metrics.iou):
            print(f"  {name:>20s}: {pct(iou)}")
    for line in describe(result.recording):
        print(line)
    if latency["count"]:
        print(f"latency ms: mean {latency['mean']:.1f}  median {latency['median']:.1f}  p90 {latency['p90']:.1f}  "
              f"p99 {latency['p99']:.1f}")
    _print_issues(result.issues)
    if result.predictions_bag is not None:
        print(f"predictions: {result.predictions_bag} ({config.labels_topic}, {config.overlay_topic})")
    if params is not None and result.counts["scored"]:
        paths.update(_run_degraded(args, segmenter, config, result, params, extra))
    print(f"reports: {', '.join(str(p) for p in paths.values())}")
    done, what = (result.counts["segmented"], "segmented") if args.no_labels else (result.counts["scored"], "scored")
    if done == 0:
        print(f"rxssnet bag eval: no frame was {what}; see the problems above (topics, --slop, --x-alignment)",
              file=sys.stderr)
        return 1
    return 0


def _print_issues(issues: Any) -> None:
    """What went wrong in the bag (bag eval and bag mine print the same list)."""
    if len(issues):
        print("problems in the bag:")
        for text in issues.texts():
            print(f"  - {text}")


def run_mine(args: argparse.Namespace) -> int:
    if not Path(args.bag).exists():
        raise FileNotFoundError(f"bag {args.bag!r} does not exist; give a rosbag2 directory, a .mcap/.db3 file "
                                "or a ROS 1 .bag")
    config = MineConfig(budget=args.budget, min_gap_s=args.min_gap, min_distance=args.min_distance)
    check_output_folder(Path(args.out))
    eval_config = BagEvalConfig(
        rgb_topic=args.rgb_topic, x_topic=args.x_topic, slop_s=args.slop, queue_size=args.queue_size,
        inter_message_lower_bound_s=args.inter_message_lower_bound, rgb_info_topic=args.rgb_info_topic,
        x_info_topic=args.x_info_topic, extrinsic_source=args.x_extrinsic_source, labels=False)
    segmenter = Segmenter.from_checkpoint(args.checkpoint, backend=args.backend, device=args.device,
                                          precision=args.precision, input_size=args.input_size,
                                          calibration_dir=args.calibration_dir)
    eval_config.alignment = _alignment(args, segmenter.preprocess_config.modality)
    result = mine_bag(args.bag, segmenter, args.out, config, eval_config, checkpoint=args.checkpoint)
    print(f"{args.bag}: {result.pairs} pairs scored, {len(result.picks)} picked into {result.out}")
    for pick in result.picks:
        print(f"  #{pick['rank']:<3d} {pick['stem']}  score {pick['score']:.3f}  uncertainty "
              f"{pick['uncertainty']:.3f}  disagreement {pick['disagreement']:.3f}  rarity {pick['rarity']:.3f}")
    _print_issues(result.issues)
    print(f"files: {', '.join(str(p) for p in result.paths.values())}")
    print(f"next: label (import {result.paths['cvat']} into CVAT as \"Segmentation mask 1.1\", or edit labels/), "
          f"then fine-tune with --init-from {args.checkpoint} and dataset.root={result.out}")
    return 0


def _run_degraded(args: argparse.Namespace, segmenter: Any, config: Any, fused: Any, params: Any,
                  extra: dict[str, Any]) -> dict[str, Any]:
    """The bag replayed in every degraded mode; the table printed and written beside the report."""
    results = evaluate_bag_degraded(args.bag, segmenter, config, params, fused=fused)
    metrics = {mode: result.metrics for mode, result in results.items()}
    print(f"degraded modes (noise std {params.noise_std:g}, shift {params.shift_px} px):")
    print(degraded_table(metrics, fused.class_names, params), end="")
    paths = write_degraded_report(metrics, args.out, fused.class_names, params,
                                  extra={key: extra[key] for key in ("bag", "checkpoint", "backend", "dataset")},
                                  model_metadata=segmenter.metadata)
    return {f"degraded_{name}": path for name, path in paths.items()}


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "bag_command", None)
    if command is None:
        args._bag_parser.print_help()
        return 2
    try:
        return {"convert": run_convert, "eval": run_eval, "mine": run_mine}[command](args)
    except BagError:
        raise
    except Exception as error:
        # rosbags' own errors (ReaderError, WriterError) are not ValueErrors: give them the same clear exit.
        if isinstance(error, (ReaderError, WriterError)):
            raise BagError(str(error)) from error
        raise
