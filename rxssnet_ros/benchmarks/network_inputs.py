# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What building the network inputs of one frame costs, fresh arrays against the node's reused ones.

`prepare_inputs` (letterbox resize in 8 bits, table-lookup normalisation, padding) per camera size, once into fresh
arrays and once into one `InputBuffers` reused frame after frame (what the `Segmenter`, and so the node, does).
Interleaved, in one process, with glibc keeping freed frame-sized blocks mapped as segment_node does
(`node_runner.keep_frame_memory_mapped`; --default-allocator leaves glibc as it is). Random RGB and uint8 thermal
frames; median and p90 wall time.

    python -m rxssnet_ros.benchmarks.network_inputs [--sizes 480x640 720x1280 1080x1920] [--network 480x640]
        [--repeat 60] [--default-allocator]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

from rxssnet_core.benchmarks import machine_line
from rxssnet_core.inference.model_files import parse_size
from rxssnet_core.percentiles import percentile
from rxssnet_core.preprocessing import InputBuffers, PreprocessConfig, prepare_inputs
from rxssnet_ros.node_runner import keep_frame_memory_mapped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_ros.benchmarks.network_inputs",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["480x640", "720x1280", "1080x1920"], metavar="HxW",
                        help="camera sizes (default 480x640 720x1280 1080x1920)")
    parser.add_argument("--network", default="480x640", metavar="HxW", help="network input size (default 480x640)")
    parser.add_argument("--repeat", type=int, default=60, help="timed frames per case (default 60)")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (the node keeps frame-sized blocks mapped)")
    args = parser.parse_args(argv)
    sizes: list[tuple[int, int]] = []
    try:
        for text in [*args.sizes, args.network]:
            size = parse_size(text, "--sizes/--network")
            if size is None:  # "camera" / "trained" name no size here
                parser.error(f"{text!r}: --sizes and --network take HxW, e.g. 720x1280")
            sizes.append(size)
    except ValueError as error:
        parser.error(str(error))
    network = sizes.pop()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    kept = False if args.default_allocator else keep_frame_memory_mapped()
    config = PreprocessConfig(modality="thermal")
    rng = np.random.default_rng(0)
    print(f"{machine_line()}; network {network[0]}x{network[1]}; glibc keeps frame buffers mapped: {kept}\n")
    print("| camera | fresh median ms | fresh p90 ms | reused median ms | reused p90 ms | fresh / reused (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for height, width in sizes:
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        x = rng.integers(0, 256, (height, width), dtype=np.uint8)
        buffers = InputBuffers()
        prepare_inputs(rgb, x, config, network)
        prepare_inputs(rgb, x, config, network, buffers)  # warm-up of both
        fresh, reused = [], []
        for _ in range(args.repeat):  # interleaved: both see the same machine at the same moment
            start = time.perf_counter()
            prepare_inputs(rgb, x, config, network)
            middle = time.perf_counter()
            prepare_inputs(rgb, x, config, network, buffers)
            reused.append((time.perf_counter() - middle) * 1e3)
            fresh.append((middle - start) * 1e3)
        fresh_median, reused_median = statistics.median(fresh), statistics.median(reused)
        print(f"| {width}x{height} | {fresh_median:.2f} | {percentile(fresh, 90):.2f} | {reused_median:.2f} | "
              f"{percentile(reused, 90):.2f} | {fresh_median / reused_median:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
