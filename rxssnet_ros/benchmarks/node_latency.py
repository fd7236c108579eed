# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""End-to-end latency of segment_node, and its behaviour when the model is slower than the cameras.

Part 1 (overhead): RGB+X pairs at 640x480 are published one at a time, slower than the model, and the time from
publishing to receiving ~/labels is compared with the Segmenter's own time for the same frames, measured inside
the node (diagnostics `segment_p50_ms`) and in this process.

Part 2 (overload): 60 s of 30 Hz input with a model slower than 30 Hz. The latest-only worker must keep the
latency bounded (p99 per 10 s window) and the node's memory (RSS) flat while it drops what it cannot process.

Part 3 (per frame): free-running RGB (30 Hz) and X (9 Hz) cameras; every output is split with the node's own
~/frame_timing of that frame into pairing wait, queue wait, backend call and what the node adds besides.

Target (`size_table.target_p90_ms`): the node adds at most 10 ms per frame at p90 beyond the model; parts 1 and 3
each print their verdict.

The node runs in its own process (`python -m rxssnet_ros.segment_node`) with loopback discovery, its own
ROS_DOMAIN_ID, sensor-data QoS and the shared-memory Fast DDS profile of config/ (as on a robot). Without
--checkpoint a random RXSSNet-atto (9 classes, decoder 32) is built; its speed, not its accuracy, matters here.

Camera sizes (`--also-sizes 720x1280 1080x1920`): part 3 again at each further camera size, in the same run, with
the same network size (the node's input_size: the checkpoint's training size, 480x640 for the random model), and
one table of what the node adds per size (targets: `size_table.SIZE_TARGETS_P90_MS`).

Part 4 (transport floor, `transport_floor`; skip with --no-floor): the same cameras at each size into a relay node
that takes each RGB image's bytes and republishes a pre-built label image of the size the node's labels have: what
DDS and rclpy alone cost, so that the table can say what the node adds beyond them.

`--output-resolution network` runs every part with the node's `output_resolution: network` (labels, colour and
overlay at the letterbox's content size instead of the camera's), and the relay sends labels of the size the node
sent.

    python -m rxssnet_ros.benchmarks.node_latency [--checkpoint model.safetensors] [--frames 20]
        [--duration 60] [--rate 30] [--height 480 --width 640] [--also-sizes 720x1280 1080x1920] [--no-floor]
        [--output-resolution camera|network] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from rxssnet_core import ModelConfig, Segmenter, save_model
from rxssnet_core.benchmarks import machine_line
from rxssnet_core.inference.backends.base import BACKEND_CHOICES, PRECISIONS
from rxssnet_core.inference.model_files import parse_size
from rxssnet_core.network_input import TRAINED
from rxssnet_core.percentiles import percentile
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_ros.benchmarks.node_process import (
    NodeUnderTest,
    Probe,
    camera_frames,
    play_camera_streams,
    ros_environment,
    rss_mib,
)
from rxssnet_ros.benchmarks.size_table import print_size_table, verdict_text
from rxssnet_ros.benchmarks.transport_floor import floor_run


def random_checkpoint(directory: str, modality: str = "thermal") -> str:
    """A random RXSSNet-atto (9 classes, decoder 32) for `modality`: the node's model when --checkpoint is absent
    (its speed, not its accuracy, matters).
    """
    # torch: only to build the stand-in model (build_model's module imports torch); --checkpoint skips it
    import torch

    # torch: rxssnet_core.models.rxssnet is the torch network
    from rxssnet_core import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=9, decoder_dim=32)).eval()
    path = os.path.join(directory, f"rxssnet-atto-{modality}-random.safetensors")
    save_model(model, path, metadata={"preprocess": PreprocessConfig(modality=modality).to_dict(),
                                      "class_names": [f"class_{i}" for i in range(9)], "palette": None,
                                      "dataset": "random"})
    return path


def _segmenter_ms(checkpoint: str, rgb: np.ndarray, x: np.ndarray, runs: int,
                  model: dict[str, str]) -> tuple[list[float], list[float], tuple[int, int]]:
    """(Segmenter.segment total ms, its backend call ms) per run, in this process, and the network size (H, W) the
    node will run at too; `model`: backend, precision.
    """
    segmenter = Segmenter.from_checkpoint(checkpoint, input_size=TRAINED, **model)  # the node's network size
    segmenter.segment(rgb, x)  # warm-up
    timings = [segmenter.segment(rgb, x).timing for _ in tqdm(range(runs), desc="Segmenter in-process")]
    return [t["total_ms"] for t in timings], [t["inference_ms"] for t in timings], segmenter.input_size


def overhead_run(checkpoint: str, env: dict[str, str], height: int, width: int, frames: int,
                 segment_ms: float, model: dict[str, str] | None = None,
                 node_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Part 1: one pair at a time, slower than the model; publish -> labels vs the Segmenter's own time.

    `model` (backend, precision) and `node_params` (e.g. output_resolution) are further node parameters.
    """
    namespace = "/latency_overhead"
    node = NodeUnderTest(namespace, {"checkpoint": checkpoint, **(model or {}), **(node_params or {}),
                                     "diagnostics_period": 0.5, "max_image_pixels": height * width}, env)
    probe = Probe(namespace)
    try:
        if not probe.wait_connected(120):
            raise RuntimeError(f"segment_node did not come up:\n{node.output()}")
        rgb_msg, x_msg, _, _ = camera_frames(height, width)
        period = max(0.25, 2.5 * segment_ms / 1e3)
        stamps = []
        start = time.time_ns()
        for index in tqdm(range(frames + 2), desc="pairs through the node"):
            stamp = start + index * 1_000_000_000
            probe.publish(rgb_msg, x_msg, stamp)
            stamps.append(stamp)
            time.sleep(period)
        time.sleep(1.0)
        latencies = probe.latencies_ms(stamps[2:])  # the first two warm the node's buffers up
        diagnostics = dict(probe.diagnostics)
    finally:
        probe.close()
        node.stop()
    return {"frames": frames, "received": len(latencies), "e2e_p50_ms": percentile(latencies, 50),
            "e2e_p90_ms": percentile(latencies, 90), "e2e_max_ms": max(latencies, default=float("nan")),
            "node_segment_p50_ms": float(diagnostics.get("segment_p50_ms", "nan")),
            "node_latency_p50_ms": float(diagnostics.get("latency_p50_ms", "nan"))}


def per_frame_split(sent: dict[int, float], received: dict[int, float], timings: dict[int, dict[str, Any]]
                    ) -> dict[str, list[float]]:
    """Per output frame (ms): latency (RGB published -> labels received; the age of the frame the output came
    from), the pairing wait and queue wait inside the node, the backend call, and what the node adds besides:
    latency - pairing wait - queue wait - backend (conversion, pre/post-processing, publishing, DDS both ways),
    itself split into the frame pipeline's own steps besides the backend (align, preprocess, postprocess, render:
    frame_ms - inference_ms) and everything outside the pipeline (decoding the messages, publishing, DDS both
    ways, thread scheduling).
    """
    split: dict[str, list[float]] = {"latency": [], "pair_wait": [], "queue_wait": [], "backend": [], "node_adds": [],
                                     "pipeline_steps": [], "outside_pipeline": []}
    for stamp, record in timings.items():
        if stamp not in sent or stamp not in received:
            continue
        latency = (received[stamp] - sent[stamp]) * 1e3
        split["latency"].append(latency)
        split["pair_wait"].append(record["pair_wait_ms"])
        split["queue_wait"].append(record["queue_wait_ms"])
        split["backend"].append(record.get("inference_ms", float("nan")))
        node_adds = latency - record["pair_wait_ms"] - record["queue_wait_ms"] - record.get("inference_ms", 0.0)
        pipeline_steps = record.get("frame_ms", float("nan")) - record.get("inference_ms", 0.0)
        split["node_adds"].append(node_adds)
        split["pipeline_steps"].append(pipeline_steps)
        split["outside_pipeline"].append(node_adds - pipeline_steps)
    return split


def streams_run(checkpoint: str, env: dict[str, str], height: int, width: int, seconds: float,
                rgb_rate: float = 30.0, x_rate: float = 9.0, x_offset_ms: float = 11.0, jitter_ms: float = 4.0,
                model: dict[str, str] | None = None, source_tree: str | None = None,
                node_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Part 3: free-running RGB (30 Hz) and X (9 Hz) cameras with an offset and jitter, as on a robot; every
    output is split per frame with the node's own ~/frame_timing of that frame (the node from `source_tree`, a
    checkout, when given). Also returns the (H, W) of the label images received ("label_sizes").
    """
    namespace = "/latency_streams"
    node = NodeUnderTest(namespace, {"checkpoint": checkpoint, **(model or {}), **(node_params or {}),
                                     "diagnostics_period": 1.0, "max_image_pixels": height * width,
                                     "input_timeout": 3600.0}, env, source_tree)
    probe = Probe(namespace)
    try:
        if not probe.wait_connected(120):
            raise RuntimeError(f"segment_node did not come up:\n{node.output()}")
        deadline = time.monotonic() + 30
        while not probe.node.count_subscribers(f"{namespace}/segment_node/frame_timing") and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        play_camera_streams(probe, height, width, seconds, rgb_rate, x_rate, x_offset_ms, jitter_ms)
        time.sleep(3.0)
        with probe._lock:
            split = per_frame_split(dict(probe.sent), dict(probe.received), dict(probe.timings))
            sent_rgb = len(probe.sent)
            label_sizes = sorted(probe.label_sizes)
    finally:
        probe.close()
        node.stop()
    return {"rgb_sent": sent_rgb, "outputs": len(split["latency"]), "label_sizes": label_sizes,
            **{f"{key}_p{q}_ms": percentile(values, q) for key, values in split.items() for q in (50, 90, 99)}}


def overload_run(checkpoint: str, env: dict[str, str], height: int, width: int, duration: float,
                 rate: float, window: float = 10.0, model: dict[str, str] | None = None,
                 node_params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Part 2: `rate` Hz input for `duration` s; latency percentiles, outputs, drops and RSS per window."""
    namespace = "/latency_overload"
    node = NodeUnderTest(namespace, {"checkpoint": checkpoint, **(model or {}), **(node_params or {}),
                                     "diagnostics_period": 1.0, "max_image_pixels": height * width,
                                     "input_timeout": 3600.0}, env)
    probe = Probe(namespace)
    rows = []
    try:
        if not probe.wait_connected(120):
            raise RuntimeError(f"segment_node did not come up:\n{node.output()}")
        rgb_msg, x_msg, _, _ = camera_frames(height, width)
        period = 1.0 / rate
        start_ns = time.time_ns()
        start = time.perf_counter()
        window_stamps: list[int] = []
        window_start = start
        window_index = 0
        progress = tqdm(total=int(duration), desc=f"{rate:g} Hz input", unit="s")
        frame = 0
        while True:
            now = time.perf_counter()
            if now - start >= duration:
                break
            stamp = start_ns + int(frame * period * 1e9)
            probe.publish(rgb_msg, x_msg, stamp)
            window_stamps.append(stamp)
            frame += 1
            if now - window_start >= window:
                rows.append(_window_row(probe, node, window_index, window_stamps, now - window_start))
                window_stamps, window_start, window_index = [], now, window_index + 1
            if int(now - start) != progress.n:
                progress.update(int(now - start) - progress.n)
            time.sleep(max(0.0, start + frame * period - time.perf_counter()))
        progress.close()
        time.sleep(2.0)  # let the last frames arrive
        if window_stamps:
            rows.append(_window_row(probe, node, window_index, window_stamps, time.perf_counter() - window_start))
    finally:
        probe.close()
        node.stop()
    return rows


def _window_row(probe: Probe, node: NodeUnderTest, index: int, stamps: list[int], seconds: float) -> dict[str, Any]:
    latencies = probe.latencies_ms(stamps)
    return {"window": index, "seconds": seconds, "published": len(stamps), "labels": len(latencies),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies, default=float("nan")), "rss_mib": rss_mib(node.proc.pid),
            "node_segment_p50_ms": float(probe.diagnostics.get("segment_p50_ms", "nan")),
            "dropped_while_busy": probe.diagnostics.get("dropped_while_busy", "?")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_ros.benchmarks.node_latency",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--checkpoint", help="RXSSNet checkpoint (default: a random atto model)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--frames", type=int, default=20, help="pairs in the overhead run (default 20)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of overload input (default 60)")
    parser.add_argument("--rate", type=float, default=30.0, help="input rate of the overload run in Hz")
    parser.add_argument("--streams-seconds", type=float, default=20.0,
                        help="seconds of free-running 30 Hz RGB + 9 Hz X cameras, split per frame (default 20)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: derived from pid)")
    parser.add_argument("--backend", default="torch", choices=BACKEND_CHOICES,
                        help="the node's (and the in-process Segmenter's) backend (default torch)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS, help="its precision (default fp32)")
    parser.add_argument("--also-sizes", nargs="*", default=[], metavar="HxW",
                        help="further camera sizes for the per-frame part, in the same run (e.g. 720x1280 1080x1920)")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the transport floor (a relay fed the same cameras: what DDS alone costs)")
    parser.add_argument("--output-resolution", choices=("camera", "network"), default="camera",
                        help="the node's output_resolution in every part; the relay's labels follow it (default "
                             "camera)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    also_sizes: list[tuple[int, int]] = []
    try:
        for text in args.also_sizes:
            size = parse_size(text, "--also-sizes")
            if size is None:  # "camera"/"trained" mean no size here
                raise ValueError(f"--also-sizes {text!r}: give HxW, e.g. 720x1280")
            also_sizes.append(size)
    except ValueError as error:
        parser.error(str(error))
    if args.frames < 1 or args.duration <= 0 or args.rate <= 0 or args.height < 16 or args.width < 16:
        parser.error("--frames, --duration and --rate must be positive, --height/--width at least 16")
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        parser.error(f"--checkpoint {args.checkpoint!r} does not exist")
    env = ros_environment(args.domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                            "FASTDDS_DEFAULT_PROFILES_FILE") if k in env})
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = args.checkpoint or random_checkpoint(directory)
        _, _, rgb, x = camera_frames(args.height, args.width)
        model = {"backend": args.backend, "precision": args.precision}
        node_params = {"output_resolution": args.output_resolution}
        in_process, in_process_backend, network_size = _segmenter_ms(checkpoint, rgb, x, max(5, args.frames // 2),
                                                                     model)
        segment_p50 = percentile(in_process, 50)
        overhead = overhead_run(checkpoint, env, args.height, args.width, args.frames, segment_p50, model,
                                node_params)
        overload = overload_run(checkpoint, env, args.height, args.width, args.duration, args.rate, model=model,
                                node_params=node_params)
        by_size: dict[tuple[int, int], dict[str, Any]] = {}
        for height, width in [(args.height, args.width), *also_sizes]:
            by_size[(height, width)] = streams_run(checkpoint, env, height, width, args.streams_seconds, model=model,
                                                   node_params=node_params)
        streams = by_size[(args.height, args.width)]
        if not args.no_floor:  # the same cameras into a relay that does nothing: the transport alone
            for (height, width), run in by_size.items():
                # labels of the size the node sent at this camera size (the node decides it, not this script)
                label_size = run["label_sizes"][0] if len(run["label_sizes"]) == 1 else (height, width)
                run.update(floor_run(env, height, width, args.streams_seconds, label_size))

    print(f"\nsegment_node latency, {args.width}x{args.height} rgb8 + mono8, sensor-data QoS, shared-memory "
          f"profile; {machine_line()}; checkpoint {'random atto' if not args.checkpoint else args.checkpoint}; "
          f"backend {args.backend} {args.precision}; network {network_size[1]}x{network_size[0]}; "
          f"output_resolution {args.output_resolution}\n")
    # the node's own Segmenter time is known at p50 only (diagnostics): subtracted from both quantiles
    overhead_ms = overhead["e2e_p50_ms"] - overhead["node_segment_p50_ms"]
    overhead_p90_ms = overhead["e2e_p90_ms"] - overhead["node_segment_p50_ms"]
    print("| measurement | p50 ms | p90 ms | max ms |")
    print("|---|---:|---:|---:|")
    print(f"| Segmenter.segment in this process ({len(in_process)} runs) | {segment_p50:.1f} | "
          f"{percentile(in_process, 90):.1f} | {max(in_process):.1f} |")
    print(f"| Segmenter.segment inside the node (diagnostics) | {overhead['node_segment_p50_ms']:.1f} | | |")
    print(f"| publish -> ~/labels received ({overhead['received']}/{overhead['frames']} pairs) | "
          f"{overhead['e2e_p50_ms']:.1f} | {overhead['e2e_p90_ms']:.1f} | {overhead['e2e_max_ms']:.1f} |")
    print(f"| **node overhead** (end to end - Segmenter in the node) | **{overhead_ms:.1f}** | "
          f"**{overhead_p90_ms:.1f}** | |")
    print(f"\nOverhead {overhead_ms:.1f} ms at p50, {overhead_p90_ms:.1f} ms at p90: "
          f"{verdict_text(overhead_p90_ms, args.height, args.width)}.\n")
    model_hz = 1e3 / overhead["node_segment_p50_ms"]
    print(f"Overload: {args.rate:g} Hz input for {args.duration:g} s; the model runs at about {model_hz:.1f} Hz "
          f"in the node\n")
    print("| window | published pairs | labels out | latency p50 ms | latency p99 ms | max ms | Segmenter in node "
          "p50 ms | node RSS MiB | dropped while busy (total) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in overload:
        print(f"| {row['window']} ({row['seconds']:.0f} s) | {row['published']} | {row['labels']} | "
              f"{row['p50_ms']:.0f} | {row['p99_ms']:.0f} | {row['max_ms']:.0f} | {row['node_segment_p50_ms']:.0f} | "
              f"{row['rss_mib']:.1f} | {row['dropped_while_busy']} |")
    rss = [row["rss_mib"] for row in overload]
    p99 = [row["p99_ms"] for row in overload]
    print(f"\nRSS {min(rss):.0f}-{max(rss):.0f} MiB over {len(rss)} windows (last - first: {rss[-1] - rss[0]:+.1f} "
          f"MiB); latency p99 {min(p99):.0f}-{max(p99):.0f} ms.")
    print(f"\nPer frame: free-running RGB 30 Hz and X 9 Hz (X 11 ms after RGB, +-4 ms jitter) for "
          f"{args.streams_seconds:g} s: {streams['outputs']} outputs from {streams['rgb_sent']} RGB frames, each split "
          "with the node's ~/frame_timing of that same frame\n")
    print("| per output frame | p50 ms | p90 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    names = {"latency": "age of the frame at output (RGB published -> labels received)",
             "pair_wait": "pairing wait (RGB in -> its X arrives)", "queue_wait": "queue wait (previous frame running)",
             "backend": "backend call (the model) in the node", "node_adds": "**what the node adds** (the rest)",
             "pipeline_steps": "of which the frame pipeline besides the model (align, preprocess, postprocess, render)",
             "outside_pipeline": "of which outside the pipeline (message decode, publishing, DDS, scheduling)"}
    for key, name in names.items():
        print(f"| {name} | {streams[key + '_p50_ms']:.1f} | {streams[key + '_p90_ms']:.1f} | "
              f"{streams[key + '_p99_ms']:.1f} |")
    print(f"\nWhat the node adds per frame: {streams['node_adds_p90_ms']:.1f} ms at p90: "
          f"{verdict_text(streams['node_adds_p90_ms'], args.height, args.width)}.")
    if len(by_size) > 1 or not args.no_floor:
        print_size_table(by_size)
    backend_ratio = streams["backend_p50_ms"] / percentile(in_process_backend, 50)
    print(f"\nBackend call in the node / in this process (p50): {streams['backend_p50_ms']:.1f} / "
          f"{percentile(in_process_backend, 50):.1f} ms = {backend_ratio:.2f}")
    if args.json:
        print(json.dumps({"in_process_ms": in_process, "in_process_backend_ms": in_process_backend,
                          "overhead": overhead, "overload": overload, "streams": streams,
                          "by_size": {f"{h}x{w}": run for (h, w), run in by_size.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
