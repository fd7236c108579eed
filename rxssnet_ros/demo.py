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
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rxssnet_ros.demo_dropout import ModeTimeline, XDropout, draw_mode, score_modes
from rxssnet_ros.image_conversion import image_to_array
from rxssnet_ros.synchronizer import stamp_ns

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"
SEGMENT_NODE = "segment_node"
EVAL_NODE = "eval_node"
PLAY_RATE_HZ = 4.0
# Failure detection in the demo: X counts as failed after 0.5 s of silence (2 frames at PLAY_RATE_HZ) and as
# recovered after 0.5 s of good images; the node checks every 20 ms, so ~/mode follows the switch closely.
DETECTION_PARAMS = ("detect_input_failures:=true", "x_missing_policy:=rgb_only", "x_timeout:=0.5",
                    "failure_exit_time:=0.5", "health_check_period:=0.02")
LABELS_SETTLED_S = 2.0  # after playback, labels have stopped once none came for this long


@dataclass
class DemoSize:
    """How much the demo does: `full` for people (about 100 s on 2 cores), `quick` for CI (about 25 s)."""

    image_size: tuple[int, int]
    counts: dict[str, int]
    epochs: int | None  # None: config/train/synthetic_fusion.yaml's recipe


FULL = DemoSize(image_size=(128, 160), counts={"train": 64, "val": 16, "test": 24}, epochs=None)
# 18 frames: 6 fused, 6 without X (the first 2 lost while the node notices), 6 after X comes back.
QUICK = DemoSize(image_size=(64, 80), counts={"train": 24, "val": 4, "test": 18}, epochs=2)


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
        from ament_index_python.packages import get_package_share_directory

        shared = Path(get_package_share_directory("rxssnet_ros")) / "config" / relative
        return shared if shared.is_file() else None
    except Exception:  # ament index missing or package not installed through colcon: no share directory
        return None


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


# ----------------------------------------------------------------------------------------------- data and model
def make_dataset(out_dir: Path, size: DemoSize, seed: int) -> Path:
    from rxssnet_core.data.synthetic import generate_fusion_dataset

    root = out_dir / "dataset"
    if (root / "dataset.yaml").is_file():
        log(f"synthetic dataset already at {root}")
        return root
    log(f"generating synthetic RGB-thermal scenes in {root} ({size.counts})")
    return Path(generate_fusion_dataset(root, counts=size.counts, size=size.image_size, seed=seed))


def train_model(dataset_root: Path, out_dir: Path, size: DemoSize, seed: int) -> Path:
    from rxssnet_core.training import Trainer, load_train_config

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
    checkpoint = result.best_path or result.final_path
    if checkpoint is None:
        raise RuntimeError(f"training in {train_dir} produced no model file")
    log(f"trained in {time.monotonic() - started:.0f} s; best validation mIoU "
        f"{(result.best_miou or 0) * 100:.1f} % -> {checkpoint}")
    return Path(checkpoint)


def convert_test_split(dataset_root: Path, out_dir: Path, seed: int) -> tuple[Path, int]:
    from rxssnet_ros.bag_tools.convert import convert_dataset_to_bag

    bag = out_dir / "test_split_bag"
    summary = convert_dataset_to_bag("synthetic_fusion", dataset_root, "test", bag, rate=PLAY_RATE_HZ,
                                     jitter_ms=10.0, camera_info=True, seed=seed, overwrite=True)
    log(summary.describe().splitlines()[0])
    return bag, summary.frames


# ------------------------------------------------------------------------------------------------ the ROS graph
class RosProcess:
    """A node in its own process group; stopped with SIGINT (then SIGKILL if it hangs)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            if self.wait(timeout) is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def wait_until_settled(count: Any, quiet_s: float, timeout: float) -> None:
    """Returns once `count()` has not changed for `quiet_s` seconds (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.1)
        if count() != last:
            last, since = count(), time.monotonic()


@dataclass
class GraphRun:
    """What the live graph produced: overlays and labels by stamp, the announced modes, eval_node's report."""

    overlays: dict[int, np.ndarray]
    timeline: ModeTimeline
    dropout: XDropout
    dropped_stamps: list[int]
    report_dir: Path


def run_ros_graph(checkpoint: Path, bag: Path, frames: int, out_dir: Path, env: dict[str, str]) -> GraphRun:
    """Runs segment_node and eval_node, plays the bag into them with the X camera dropping out for the middle
    third of the frames, and collects overlays, labels and ~/mode from the graph."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from rxssnet_ros.bag_player import play_bag
    from rxssnet_ros.bag_tools.convert import BagTopics, read_dataset_info
    from rxssnet_ros.demo_dropout import DropoutNode

    topics = BagTopics()
    report_dir = out_dir / "ros_eval_report"
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    detection = [arg for param in DETECTION_PARAMS for arg in ("-p", param)]
    segment = RosProcess(SEGMENT_NODE, [
        python, "-m", "rxssnet_ros.segment_node", "--ros-args", "-r", f"__node:={SEGMENT_NODE}",
        "-p", f"checkpoint:={checkpoint}", "-p", "input_qos:=reliable", "-p", "slop:=0.05",
        # Frames come at PLAY_RATE_HZ: telling the pairing rule so lets it release each pair at once.
        "-p", f"inter_message_lower_bound:={0.8 / PLAY_RATE_HZ}", *detection,
        "-r", f"~/rgb/image:={topics.rgb}", "-r", f"~/x/image:={topics.x}",
        "-r", f"~/rgb/camera_info:={topics.rgb_info}"], env, logs / "segment_node.log")
    # Frames lost while the node notices the drop-out get no label, so eval_node cannot count to the end: it is
    # stopped (and writes its report) once the labels have stopped.
    evaluator = RosProcess(EVAL_NODE, [
        python, "-m", "rxssnet_ros.eval_node", "--ros-args", "-r", f"__node:={EVAL_NODE}",
        "-p", f"dataset_info:={bag}", "-p", f"output_dir:={report_dir}",
        "-r", f"~/labels:=/{SEGMENT_NODE}/labels", "-r", f"~/gt:={topics.gt}"], env, logs / "eval_node.log")
    rclpy.init()
    node = rclpy.create_node("rxssnet_demo")
    overlays: dict[int, np.ndarray] = {}
    timeline = ModeTimeline()
    dropout = XDropout.middle_third(frames)

    def stamp_of(msg: Any) -> int:
        return stamp_ns(msg.header.stamp)

    def on_overlay(msg: Image) -> None:
        overlays[stamp_of(msg)] = image_to_array(msg, "overlay")
        timeline.on_overlay(stamp_of(msg))

    reliable = QoSProfile(depth=frames + 10, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(Image, f"/{SEGMENT_NODE}/overlay", on_overlay, reliable)
    node.create_subscription(Image, f"/{SEGMENT_NODE}/labels",
                             lambda msg: timeline.on_labels(stamp_of(msg), image_to_array(msg, "labels")), reliable)
    node.create_subscription(String, f"/{SEGMENT_NODE}/mode", lambda msg: timeline.on_mode(msg.data), latched)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    gated = DropoutNode(node, topics.x, dropout)
    try:
        deadline = time.monotonic() + 120
        # Play only once both nodes listen, so that no frame is lost to discovery.
        while time.monotonic() < deadline:
            if node.count_subscribers(topics.rgb) >= 1 and node.count_subscribers(topics.gt) >= 1 \
                    and node.count_publishers(f"/{SEGMENT_NODE}/overlay") >= 1:
                break
            for proc in (segment, evaluator):
                if proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the nodes did not come up within 120 s; see {logs}")
        time.sleep(1.0)
        log(f"playing {bag.name} ({frames} frames at {PLAY_RATE_HZ:g} Hz) into segment_node; the X camera "
            f"drops out for frames {dropout.first}..{dropout.first + dropout.count - 1}")
        # the bag's publishers are new: the first frame waits until they have matched the nodes' subscriptions
        play_bag(gated, bag, topics=[topics.rgb, topics.x, topics.gt, topics.rgb_info, topics.x_info],
                 wait_for_subscribers_s=30.0)
        timeline.end_of_input()  # one flag, read by the executor's callbacks: no lock needed
        wait_until_settled(lambda: len(timeline.labels), LABELS_SETTLED_S, timeout=60 + frames * 5)
    finally:
        evaluator.stop()
        segment.stop()
        executor.shutdown()
        spinner.join(timeout=5)
        node.destroy_node()
        rclpy.shutdown()
    bag_frames = (read_dataset_info(bag) or {}).get("frames", [])
    dropped = gated.x_publisher.dropped if gated.x_publisher is not None else []
    dropped_stamps = [bag_frames[index]["stamp_ns"] for index in dropped if index < len(bag_frames)]
    log(f"modes announced on ~/mode: {' -> '.join(timeline.switches)}; labels per mode "
        f"{timeline.frames_per_mode()}")
    return GraphRun(overlays, timeline, dropout, dropped_stamps, report_dir)


# ---------------------------------------------------------------------------------------------------- pictures
def _thermal_rgb(x: np.ndarray) -> np.ndarray:
    gray = x if x.dtype == np.uint8 else cv2.normalize(x, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _picked_columns(count: int, max_columns: int) -> set[int]:
    """Indices of the frames shown in the strip: spread over the whole run, so the drop-out is in it."""
    return {round(i) for i in np.linspace(0, count - 1, num=min(count, max_columns))} if count else set()


def write_pictures(dataset_root: Path, bag: Path, graph: GraphRun, out_dir: Path,
                   max_columns: int = 8) -> tuple[Path, Path | None]:
    """An overlay strip (rows: RGB, thermal, ground truth, node overlay with its mode) and a video of the
    overlays; a frame whose X was withheld shows a black thermal tile."""

    from rxssnet_core.data import build_dataset
    from rxssnet_core.visualization import as_palette, colorize
    from rxssnet_ros.bag_tools.convert import read_dataset_info

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
        if not writer.isOpened():
            log("this OpenCV build cannot write mp4 video; skipped the video")
            video_path = None
        else:
            for frame in frames:
                big = cv2.resize(frame, (width * 2, height * 2), interpolation=cv2.INTER_NEAREST)
                writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            writer.release()
    return strip_path, video_path


def compare_rgb_only(checkpoint: Path, dataset_root: Path, out_dir: Path) -> tuple[float, float, Path, Path]:
    """mIoU of the same model fed the real thermal image versus an uninformative X, with per-class bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rxssnet_core.data import build_dataset
    from rxssnet_core.evaluation.metrics import ConfusionMatrix
    from rxssnet_core.inference import Segmenter

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
