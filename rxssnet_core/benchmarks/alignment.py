# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Per-frame cost of X-to-RGB alignment (rxssnet_core.alignment) and of labelled point clouds.

Prints one markdown table for an RGB image of the given size (default 640x480): for every alignment mode the
first call (which builds and caches the maps) and the per-frame median and 90th percentile wall time, plus the
median CPU time of the calling thread (what the frame costs when the CPU is not shared). Synthetic frames,
a rig with lens distortion on both cameras, all depth pixels valid unless stated (the worst case).

    python -m rxssnet_core.benchmarks.alignment [--height 480 --width 640] [--repeat 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import CameraModel
from rxssnet_core.percentiles import percentile
from rxssnet_core.pointcloud import labeled_points

DEPTH_TARGET_MS = 10.0


def _rig(height: int, width: int) -> dict[str, Any]:
    """RGB camera, a thermal camera at half resolution and a depth camera at full resolution, all distorting."""
    scale = width / 640.0
    rgb = CameraModel(K=[[520 * scale, 0, width / 2 - 0.5], [0, 522 * scale, height / 2 - 0.5], [0, 0, 1]],
                      D=[-0.05, 0.01, 0.001, -0.0005, 0.0], distortion_model="plumb_bob", width=width, height=height)
    thermal_w, thermal_h = width // 2, (height * 256) // 480
    thermal = CameraModel(K=[[300 * scale, 0, thermal_w / 2], [0, 300 * scale, thermal_h / 2], [0, 0, 1]],
                          D=[-0.25, 0.06, 0.001, 0.002, 0.0], distortion_model="plumb_bob", width=thermal_w,
                          height=thermal_h)
    depth = CameraModel(K=[[600 * scale, 0, width / 2], [0, 600 * scale, height / 2], [0, 0, 1]],
                        D=[-0.1, 0.02, 0.0005, -0.001, 0.0], distortion_model="plumb_bob", width=width, height=height)
    rotation = np.array([[0.9998, -0.0100, 0.0175], [0.0102, 0.9999, -0.0099], [-0.0174, 0.0101, 0.9998]])
    rotation, _ = np.linalg.qr(rotation)  # exactly orthonormal
    rotation *= np.sign(np.diag(rotation))[None, :]
    return {"rgb": rgb, "thermal": thermal, "depth": depth, "R": rotation, "t": np.array([0.05, 0.004, -0.002])}


def _depth_frame(height: int, width: int) -> np.ndarray:
    """A wall at 3 m with a box at 1.2 m: every pixel valid."""
    depth = np.full((height, width), 3.0, dtype=np.float32)
    depth[height // 4: height // 2, width // 3: width // 2] = 1.2
    return depth


def _time(fn: Callable[[], object], warmup: int, repeat: int) -> dict[str, float]:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return {"first_ms": first * 1e3, "median_ms": statistics.median(wall) * 1e3,
            "p90_ms": percentile(wall, 90) * 1e3, "cpu_ms": statistics.median(cpu) * 1e3}


def cases(height: int, width: int) -> list[tuple[str, str, Callable[[], object]]]:
    """(name, X input, one-frame call) for every mode."""
    rig = _rig(height, width)
    rgb, thermal_cam, depth_cam = rig["rgb"], rig["thermal"], rig["depth"]
    rng = np.random.default_rng(0)
    shape = (height, width)
    same_size = rng.integers(0, 255, size=shape, dtype=np.uint8)
    thermal = rng.integers(20000, 40000, size=(thermal_cam.height, thermal_cam.width), dtype=np.uint16)
    depth_m = _depth_frame(height, width)
    depth_mm = np.rint(depth_m * 1000).astype(np.uint16)
    depth_mm[rng.random(shape) < 0.3] = 0
    H = np.array([[2.0, 0.01, 6.0], [-0.01, 2.0, 4.0], [1e-5, 0.0, 1.0]])
    geometry = {"extrinsic_rotation": rig["R"], "extrinsic_translation": rig["t"]}

    def aligner(**config: Any) -> XAligner:
        return XAligner(AlignmentConfig(**config))

    none = aligner(mode="none")
    resize_thermal = aligner(mode="resize", modality="thermal")
    resize_depth = aligner(mode="resize", modality="depth")
    homography_matrix = aligner(mode="homography", homography=H)
    homography_cameras = aligner(mode="homography", plane_distance_m=4.0, **geometry)
    homography_nearest = aligner(mode="homography", modality="depth", plane_distance_m=4.0, **geometry)
    depth = aligner(mode="depth", modality="depth", **geometry)
    depth_mm_aligner = aligner(mode="depth", modality="depth", **geometry)
    depth_pinhole = aligner(mode="depth", modality="depth", **geometry)
    rgb_pinhole = CameraModel(K=rgb.K, width=width, height=height)
    labels = rng.integers(0, 9, size=shape, dtype=np.uint8)
    image = rng.integers(0, 255, size=(*shape, 3), dtype=np.uint8)
    thermal_size = f"{thermal_cam.width}x{thermal_cam.height} uint16"
    return [
        ("none", f"{width}x{height} uint8", lambda: none.align(same_size, shape)),
        ("resize (thermal, linear)", thermal_size, lambda: resize_thermal.align(thermal, shape)),
        ("resize (depth, nearest)", thermal_size, lambda: resize_depth.align(thermal, shape)),
        ("homography (x_homography, linear)", thermal_size, lambda: homography_matrix.align(thermal, shape)),
        ("homography (from camera_infos, both lenses undistorted, linear)", thermal_size,
         lambda: homography_cameras.align(thermal, shape, rgb, thermal_cam)),
        ("homography (from camera_infos, nearest)", thermal_size,
         lambda: homography_nearest.align(thermal, shape, rgb, thermal_cam)),
        ("depth (float32 m, all valid, both lenses distort)", f"{width}x{height} float32",
         lambda: depth.align(depth_m, shape, rgb, depth_cam)),
        ("depth (uint16 mm, 30% invalid, both lenses distort)", f"{width}x{height} uint16",
         lambda: depth_mm_aligner.align(depth_mm, shape, rgb, depth_cam)),
        ("depth (float32 m, all valid, pinhole RGB)", f"{width}x{height} float32",
         lambda: depth_pinhole.align(depth_m, shape, rgb_pinhole, depth_cam)),
        ("labeled_points (stride 1, image colours)", f"{width}x{height} depth",
         lambda: labeled_points(depth_m, labels, image, rgb.K)),
        ("labeled_points (stride 4, palette)", f"{width}x{height} depth",
         lambda: labeled_points(depth_m, labels, image, rgb.K, stride=4, palette=[[0, 0, 0]] * 9)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=480, help="RGB image height (default 480)")
    parser.add_argument("--width", type=int, default=640, help="RGB image width (default 640)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls after the first (default 3)")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per case (default 50)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the markdown table")
    args = parser.parse_args(argv)
    if args.height < 16 or args.width < 16 or args.repeat < 1 or args.warmup < 0:
        parser.error("--height and --width must be >= 16, --repeat >= 1, --warmup >= 0")

    rows = []
    for name, x_input, fn in tqdm(cases(args.height, args.width), desc="alignment benchmark", unit="case"):
        rows.append({"case": name, "x_input": x_input, **_time(fn, args.warmup, args.repeat)})
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.json:
        print(json.dumps({"rgb_size": [args.height, args.width], "load_average_1min": load, "rows": rows},
                         indent=2))
        return 0
    print(f"X-to-RGB alignment, RGB {args.width}x{args.height}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, 1-min load average {load:.1f}, numpy {np.__version__}")
    print()
    print("| case | X input | first call ms (builds maps) | per frame ms (median) | p90 ms | CPU ms (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['case']} | {row['x_input']} | {row['first_ms']:.1f} | {row['median_ms']:.2f} | "
              f"{row['p90_ms']:.2f} | {row['cpu_ms']:.2f} |")
    depth_rows = [row for row in rows if row["case"].startswith("depth")]
    worst = max(row["cpu_ms"] for row in depth_rows)
    verdict = "meets" if worst < DEPTH_TARGET_MS else "MISSES"
    print()
    print(f"depth alignment: worst per-frame CPU time {worst:.2f} ms, {verdict} the {DEPTH_TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
