# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The demo's outputs: the overlay strip and video, the RGB-only versus RGB-X comparison, and the final summary.

`write_pictures` matches the node's overlays to the dataset by stamp (through the bag's dataset description)
and draws each with the mode the node announced; `compare_rgb_only` scores the same model offline with the real
thermal image and with an uninformative X; `print_summary` says where every output of `DemoOutputs` is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rxssnet_core.data import build_dataset
from rxssnet_core.evaluation.metrics import ConfusionMatrix
from rxssnet_core.inference import Segmenter
from rxssnet_core.visualization import as_palette, colorize
from rxssnet_ros.bag_tools.bag_layout import read_dataset_info
from rxssnet_ros.demo_dropout import draw_mode
from rxssnet_ros.demo_graph import PLAY_RATE_HZ, GraphRun


@dataclass
class DemoOutputs:
    """Where everything went."""

    out_dir: Path
    dataset: Path
    checkpoint: Path
    bag: Path
    ros_report_dir: Path
    overlay_strip: Path
    overlay_video: Path | None
    comparison_md: Path
    comparison_png: Path
    ros_miou: float | None
    ros_miou_per_mode: dict[str, float]
    frames_per_mode: dict[str, int]
    modes_announced: list[str]
    x_dropped_frames: list[int]
    per_mode_md: Path
    offline_miou: float
    rgb_only_miou: float
    frames_segmented: int
    extra: dict[str, Any] = field(default_factory=dict)


def _thermal_rgb(x: np.ndarray) -> np.ndarray:
    gray = x if x.dtype == np.uint8 else cv2.normalize(x, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _picked_columns(count: int, max_columns: int) -> set[int]:
    """Indices of the frames shown in the strip: spread over the whole run, so the drop-out is in it."""
    return {round(i) for i in np.linspace(0, count - 1, num=min(count, max_columns))} if count else set()


def write_pictures(dataset_root: Path, bag: Path, graph: GraphRun, out_dir: Path,
                   max_columns: int = 8) -> tuple[Path, Path | None]:
    """An overlay strip (rows: RGB, thermal, ground truth, node overlay with its mode) and a video of the
    overlays; a frame whose X was withheld shows a black thermal tile.
    """
    dataset = build_dataset("synthetic_fusion", dataset_root, "test")
    palette = as_palette(dataset.info.palette, dataset.info.num_classes)
    # The bag records which dataset frame each stamp carries: overlays are matched by stamp, not by order.
    info = read_dataset_info(bag) or {}
    index_of_stem = {stem: index for index, stem in enumerate(dataset.stems)}
    index_of_stamp = {frame["stamp_ns"]: index_of_stem[frame["stem"]] for frame in info.get("frames", [])}
    columns = []
    frames = []
    stamps = [stamp for stamp in sorted(graph.overlays) if stamp in index_of_stamp]
    shown = _picked_columns(len(stamps), max_columns)
    dropped = set(graph.dropped_stamps)
    for position, stamp in enumerate(stamps):
        overlay = draw_mode(graph.overlays[stamp], graph.timeline.overlay_modes.get(stamp, "?"))
        raw = dataset.read_raw(index_of_stamp[stamp])
        thermal = _thermal_rgb(raw.x) if stamp not in dropped else draw_mode(np.zeros_like(raw.rgb), "X lost")
        tiles = [raw.rgb, thermal, colorize(raw.label, palette), overlay]
        if position in shown:
            columns.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                           for t in tiles], axis=0))
        frames.append(np.concatenate([raw.rgb, thermal, overlay], axis=1))
    strip_path = out_dir / "overlay_strip.png"
    if columns:
        strip = np.concatenate(columns, axis=1)
        if strip.shape[0] < 600:  # small scenes are hard to see at 1:1
            strip = cv2.resize(strip, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(strip_path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    video_path: Path | None = out_dir / "overlays.mp4"
    if frames:
        height, width = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), PLAY_RATE_HZ,
                                 (width * 2, height * 2))
        if not writer.isOpened():  # this OpenCV build cannot write mp4: no video (run_demo says so)
            video_path = None
        else:
            for frame in frames:
                big = cv2.resize(frame, (width * 2, height * 2), interpolation=cv2.INTER_NEAREST)
                writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            writer.release()
    return strip_path, video_path


def compare_rgb_only(checkpoint: Path, dataset_root: Path, out_dir: Path) -> tuple[float, float, Path, Path]:
    """MIoU of the same model fed the real thermal image versus an uninformative X, with per-class bars."""
    # matplotlib: optional (requirements/train.txt), the comparison plot only
    import matplotlib

    matplotlib.use("Agg")
    # matplotlib.pyplot: after choosing the Agg backend above (no display)
    import matplotlib.pyplot as plt

    segmenter = Segmenter.from_checkpoint(checkpoint, backend="torch")
    dataset = build_dataset("synthetic_fusion", dataset_root, "test")
    names = list(dataset.info.class_names)
    fused, rgb_only = ConfusionMatrix(len(names)), ConfusionMatrix(len(names))
    for index in range(len(dataset)):
        raw = dataset.read_raw(index)
        fused.update(segmenter.segment(raw.rgb, raw.x).labels, raw.label)
        rgb_only.update(segmenter.segment(raw.rgb, None).labels, raw.label)
    with_x, without_x = fused.compute(), rgb_only.compute()
    lines = ["# RGB-X versus RGB only", "",
             "The same trained model, on the held-out split, fed the real thermal image or an uninformative X "
             "(every pixel at the normalisation mean).", "",
             "| class | RGB-X IoU (%) | RGB only IoU (%) |", "|---|---:|---:|"]
    for name, a, b in zip(names, with_x.iou, without_x.iou):
        lines.append(f"| {name} | {100 * a:.1f} | {100 * b:.1f} |")
    lines.append(f"| **mIoU** | **{100 * with_x.miou:.1f}** | **{100 * without_x.miou:.1f}** |")
    md_path = out_dir / "rgb_only_vs_rgbx.md"
    md_path.write_text("\n".join(lines) + "\n")
    (out_dir / "rgb_only_vs_rgbx.json").write_text(json.dumps(
        {"rgbx": with_x.to_dict(), "rgb_only": without_x.to_dict()}, indent=2, default=float))
    figure, axes = plt.subplots(figsize=(7, 3.2), dpi=110)
    positions = np.arange(len(names))
    axes.bar(positions - 0.2, [100 * v for v in with_x.iou], 0.4, label=f"RGB-X (mIoU {100 * with_x.miou:.1f})")
    axes.bar(positions + 0.2, [100 * v for v in without_x.iou], 0.4,
             label=f"RGB only (mIoU {100 * without_x.miou:.1f})")
    axes.set_xticks(positions, names, rotation=15)
    axes.set_ylabel("IoU (%)")
    axes.set_ylim(0, 105)
    axes.legend(loc="lower right")
    axes.set_title("Per-class IoU: the thermal camera finds what RGB cannot")
    figure.tight_layout()
    png_path = out_dir / "rgb_only_vs_rgbx.png"
    figure.savefig(png_path)
    plt.close(figure)
    return with_x.miou, without_x.miou, md_path, png_path


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def print_summary(outputs: DemoOutputs) -> None:
    rows = [
        ("synthetic dataset", outputs.dataset),
        ("trained model", outputs.checkpoint),
        ("test split as a rosbag2", outputs.bag),
        ("ROS evaluation report (eval_node)", outputs.ros_report_dir / "metrics.md"),
        ("per-class IoU plot", outputs.ros_report_dir / "per_class_iou.png"),
        ("mIoU per mode from the ROS graph (X drop-out)", outputs.per_mode_md),
        ("overlay strip (RGB / thermal / truth / node overlay)", outputs.overlay_strip),
        ("overlay video", outputs.overlay_video or "not written"),
        ("RGB-only versus RGB-X", outputs.comparison_md),
        ("RGB-only versus RGB-X plot", outputs.comparison_png),
        ("node logs", outputs.out_dir / "logs"),
    ]
    print()
    print(f"Demo finished in {outputs.extra.get('seconds', 0):.0f} s. segment_node answered "
          f"{outputs.frames_segmented} frames in a real ROS 2 graph.")
    print(f"  mIoU from the ROS graph (eval_node): {_percent(outputs.ros_miou)}")
    print(f"  X camera dropped for frames {outputs.x_dropped_frames[0]}..{outputs.x_dropped_frames[-1]}; modes "
          f"announced {' -> '.join(outputs.modes_announced)}; mIoU per mode from the graph: "
          + ", ".join(f"{mode} {_percent(value)} ({outputs.frames_per_mode.get(mode, '-')} frames)"
                      for mode, value in outputs.ros_miou_per_mode.items() if mode != "all"))
    print(f"  mIoU offline, RGB-X: {_percent(outputs.offline_miou)}; same model with an uninformative X: "
          f"{_percent(outputs.rgb_only_miou)}")
    print("Outputs:")
    for label, path in rows:
        print(f"  {label:<55} {path}")
