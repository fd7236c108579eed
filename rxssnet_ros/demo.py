# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`make demo`: the main job end to end, in a real ROS 2 graph, on generated RGB-thermal scenes.

1. generate synthetic RGB-thermal scenes (some classes visible only in thermal, others only in RGB);
2. train the small variant on the CPU for a few minutes (or take CHECKPOINT=...);
3. convert the held-out split to a rosbag2 (mcap) with RGB, thermal and ground-truth topics;
4. run `segment_node` (with failure detection) and `eval_node` as separate ROS 2 processes, play the bag into
   them with the X camera dropping out for the middle third of the frames and coming back, and collect the
   node's overlays, labels and announced modes (~/mode) from the graph;
5. write an overlay strip (PNG) and video with the node's mode drawn on each overlay, the evaluation report, the
   mIoU per mode from the live graph (fused / rgb_only), and the RGB-only versus RGB-X comparison;
6. print where every output is.

    python -m rxssnet_ros.demo [--out demo_output] [--checkpoint CKPT] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ament_index_python.packages import get_package_share_directory

from rxssnet_core.data.synthetic import generate_fusion_dataset
from rxssnet_core.training import Trainer, load_train_config
from rxssnet_ros.bag_tools.convert import convert_dataset_to_bag
from rxssnet_ros.demo_dropout import score_modes
from rxssnet_ros.demo_graph import PLAY_RATE_HZ, log, run_ros_graph
from rxssnet_ros.demo_report import DemoOutputs, compare_rgb_only, print_summary, write_pictures

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"


@dataclass
class DemoSize:
    """How much the demo does: `full` for people (about 100 s on 2 cores), `quick` for CI (about 25 s)."""

    image_size: tuple[int, int]
    counts: dict[str, int]
    epochs: int | None  # None: config/train/synthetic_fusion.yaml's recipe


FULL = DemoSize(image_size=(128, 160), counts={"train": 64, "val": 16, "test": 24}, epochs=None)
# 18 frames: 6 fused, 6 without X (the first 2 lost while the node notices), 6 after X comes back.
QUICK = DemoSize(image_size=(64, 80), counts={"train": 24, "val": 4, "test": 18}, epochs=2)


def ros_environment() -> dict[str, str]:
    """This process's environment with DDS kept on loopback and a demo-specific domain unless one is set."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", "73")
    profile = find_config("fastdds_large_images.xml")
    if profile is not None:
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def find_config(relative: str) -> Path | None:
    """A file of the package's config/ folder: the source checkout, else the installed share directory."""
    candidate = REPO_CONFIG / relative
    if candidate.is_file():
        return candidate
    try:
        shared = Path(get_package_share_directory("rxssnet_ros")) / "config" / relative
    except (LookupError, OSError, ValueError):  # no ament index, or not installed through colcon: no share folder
        return None
    return shared if shared.is_file() else None


# ----------------------------------------------------------------------------------------------- data and model
def make_dataset(out_dir: Path, size: DemoSize, seed: int) -> Path:
    """The synthetic RGB-thermal scenes in `out_dir`/dataset (generated unless already there)."""
    root = out_dir / "dataset"
    if (root / "dataset.yaml").is_file():
        log(f"synthetic dataset already at {root}")
        return root
    log(f"generating synthetic RGB-thermal scenes in {root} ({size.counts})")
    return Path(generate_fusion_dataset(root, counts=size.counts, size=size.image_size, seed=seed))


def train_model(dataset_root: Path, out_dir: Path, size: DemoSize, seed: int) -> Path:
    """Trains config/train/synthetic_fusion.yaml's model on the CPU; returns the model at the end of the schedule
    (final.safetensors), the one the fusion proof scores: on this recipe the epoch chosen on the validation
    scenes was never better on the test scenes (see the recipe's comments).
    """
    config_path = find_config("train/synthetic_fusion.yaml")
    if config_path is None:
        raise FileNotFoundError("config/train/synthetic_fusion.yaml is missing from the package")
    train_dir = out_dir / "train"
    overrides = [f"dataset.root={dataset_root}", f"output_dir={train_dir}", f"train.seed={seed}",
                 "logging.tensorboard=false"]
    if size.epochs is not None:
        overrides += [f"schedule.epochs={size.epochs}", f"val.every_n_epochs={size.epochs}",
                      f"schedule.warmup_epochs={min(1, size.epochs)}"]
    config = load_train_config(config_path, overrides)
    log(f"training {config.model.variant} for {config.schedule.epochs} epochs on the CPU (config {config_path})")
    started = time.monotonic()
    result = Trainer(config, output_dir=train_dir, config_path=config_path).fit()
    checkpoint = result.final_path
    if checkpoint is None:
        raise RuntimeError(f"training in {train_dir} produced no model file")
    log(f"trained in {time.monotonic() - started:.0f} s (best validation mIoU {(result.best_miou or 0) * 100:.1f} % "
        f"at epoch {result.best_epoch}) -> {checkpoint}")
    return Path(checkpoint)


def convert_test_split(dataset_root: Path, out_dir: Path, seed: int) -> tuple[Path, int]:
    """The test split as a rosbag2 (with CameraInfo and 10 ms of X jitter); returns (bag, frames)."""
    bag = out_dir / "test_split_bag"
    summary = convert_dataset_to_bag("synthetic_fusion", dataset_root, "test", bag, rate=PLAY_RATE_HZ,
                                     jitter_ms=10.0, camera_info=True, seed=seed, overwrite=True)
    log(summary.describe().splitlines()[0])
    return bag, summary.frames


# ------------------------------------------------------------------------------------------------------- driver
def run_demo(out_dir: str | Path, checkpoint: str | Path | None = None, quick: bool = False, seed: int = 0
             ) -> DemoOutputs:
    """Runs every step; returns where the outputs are."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    env = ros_environment()
    size = QUICK if quick else FULL
    started = time.monotonic()
    dataset_root = make_dataset(out_dir, size, seed)
    if checkpoint is None:
        model_path = train_model(dataset_root, out_dir, size, seed)
    else:
        model_path = Path(checkpoint)
        if not model_path.is_file():
            raise FileNotFoundError(f"CHECKPOINT={model_path} does not exist")
        log(f"using the given checkpoint {model_path}")
    bag, frames = convert_test_split(dataset_root, out_dir, seed)
    graph = run_ros_graph(model_path, bag, frames, out_dir, env)
    strip, video = write_pictures(dataset_root, bag, graph, out_dir)
    if video is None:
        log("this OpenCV build cannot write mp4 video; skipped the video")
    per_mode, per_mode_md = score_modes(dataset_root, bag, graph.timeline, graph.dropout, graph.dropped_stamps,
                                        out_dir)
    rgbx_miou, rgb_only_miou, comparison_md, comparison_png = compare_rgb_only(model_path, dataset_root, out_dir)
    ros_miou = None
    metrics_json = graph.report_dir / "metrics.json"
    if metrics_json.is_file():
        ros_miou = json.loads(metrics_json.read_text()).get("miou")
    dropped = [index for index in range(frames) if graph.dropout.drops(index)]
    outputs = DemoOutputs(out_dir, dataset_root, model_path, bag, graph.report_dir, strip, video, comparison_md,
                          comparison_png, ros_miou, {mode: m.miou for mode, m in per_mode.items()},
                          graph.timeline.frames_per_mode(), list(graph.timeline.switches), dropped, per_mode_md,
                          rgbx_miou, rgb_only_miou, len(graph.overlays), {"seconds": time.monotonic() - started})
    summary = {key: str(value) if isinstance(value, Path) else value
               for key, value in outputs.__dict__.items()}
    summary["frames_in_bag"] = frames
    (out_dir / "demo_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(outputs)
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    parser.add_argument("--checkpoint", default=None, help="skip training and use this model file")
    parser.add_argument("--quick", action="store_true", help="a reduced run (about 25 s), as CI does")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        run_demo(args.out, args.checkpoint, args.quick, args.seed)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
