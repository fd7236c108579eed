# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What segment_node adds per frame, baseline checkout against this one, interleaved in one run.

The per-frame part of `node_latency` (free-running 30 Hz RGB and 9 Hz X cameras, each output split with the node's
own ~/frame_timing), run round after round with the node from the baseline checkout, then from this one: the same
probe, model, machine and minute, so the difference is the code's (a figure from another run is no baseline on a
machine whose load moves). Prints each round and the medians over the rounds.

    git worktree add /tmp/baseline <commit>
    python -m rxssnet_ros.benchmarks.node_ab --baseline /tmp/baseline --size 1080x1920 --rounds 3 --seconds 12
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

import numpy as np

from rxssnet_core.benchmarks import machine_line
from rxssnet_core.inference.backends.base import BACKEND_CHOICES, PRECISIONS
from rxssnet_core.inference.model_files import parse_size
from rxssnet_ros.benchmarks.node_latency import random_checkpoint, streams_run
from rxssnet_ros.benchmarks.node_process import REPO_CONFIG, ros_environment

COLUMNS = ("node_adds_p50_ms", "node_adds_p90_ms", "pipeline_steps_p90_ms", "outside_pipeline_p90_ms")
THIS_TREE = str(REPO_CONFIG.parent)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_ros.benchmarks.node_ab",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--baseline", required=True, help="a checkout of the baseline (git worktree add DIR REV)")
    parser.add_argument("--size", default="1080x1920", help="camera size HxW (default 1080x1920)")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/this pairs (default 3)")
    parser.add_argument("--seconds", type=float, default=12.0, help="camera streams per run (default 12)")
    parser.add_argument("--backend", default="openvino", choices=BACKEND_CHOICES)
    parser.add_argument("--precision", default="bf16", choices=PRECISIONS)
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: derived from pid)")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.baseline, "rxssnet_ros", "segment_node.py")):
        parser.error(f"--baseline {args.baseline!r} is not a checkout of this package (no rxssnet_ros/segment_node.py);"
                     " make one with: git worktree add /tmp/baseline <commit>")
    try:
        size = parse_size(args.size, "--size")
    except ValueError as error:
        parser.error(str(error))
    if size is None or args.rounds < 1 or args.seconds <= 0:
        parser.error("--size must be HxW, --rounds and --seconds positive")
    env = ros_environment(args.domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                            "FASTDDS_DEFAULT_PROFILES_FILE") if k in env})
    arms = {"baseline": os.path.abspath(args.baseline), "this checkout": THIS_TREE}
    results: dict[str, list[list[float]]] = {name: [] for name in arms}
    print("| round | node from | outputs | node adds p50 ms | node adds p90 ms | pipeline p90 ms | outside p90 ms |\n"
          "|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = random_checkpoint(directory)
        for round_index in range(args.rounds):
            for name, tree in arms.items():
                run = streams_run(checkpoint, env, size[0], size[1], args.seconds,
                                  model={"backend": args.backend, "precision": args.precision}, source_tree=tree)
                results[name].append([run[column] for column in COLUMNS])
                print(f"| {round_index} | {name} | {run['outputs']} | " +
                      " | ".join(f"{value:.1f}" for value in results[name][-1]) + " |", flush=True)
    print(f"\nMedians over {args.rounds} rounds, {size[1]}x{size[0]}, {args.backend} {args.precision}; "
          f"{machine_line()}\n")
    print("| node from | node adds p50 ms | node adds p90 ms | pipeline p90 ms | outside p90 ms |\n"
          "|---|---:|---:|---:|---:|")
    for name, rows in results.items():
        print(f"| {name} ({arms[name]}) | " + " | ".join(f"{v:.1f}" for v in np.median(np.array(rows), axis=0)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
