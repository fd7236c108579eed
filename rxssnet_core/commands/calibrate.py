# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet calibrate homography`: the X-to-RGB homography of a camera rig from four or more point pairs.

Each pair is one scene point as seen by both cameras: (x_u, x_v) in the X image, (rgb_u, rgb_v) in the RGB
image, in pixels. The command prints the reprojection error of every pair and the homography as YAML for the
node's parameters (x_alignment: homography, x_homography: 9 numbers, row-major); --out writes a parameter file
that `ros2 run ... --ros-args --params-file` loads directly.
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
from typing import Any

import numpy as np
import yaml

from rxssnet_core.camera_geometry import AlignmentError, CameraModel, fit_homography
from rxssnet_core.errors import UsageError

CSV_COLUMNS = ("x_u", "x_v", "rgb_u", "rgb_v")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(dest="calibrate_target", metavar="TARGET", required=True)
    homography = targets.add_parser(
        "homography",
        help="fit x_homography (X pixels -> RGB pixels) to four or more point pairs",
        description="Fit the homography mapping X pixels to RGB pixels to four or more point pairs, print the "
                    "reprojection error of every pair and the node parameters as YAML.")
    homography.add_argument(
        "--points", required=True, type=pathlib.Path,
        help="point pairs: a .csv with columns x_u,x_v,rgb_u,rgb_v (header optional), or a .yaml with "
             "'pairs: [[x_u, x_v, rgb_u, rgb_v], ...]' or 'pairs: [{x: [u, v], rgb: [u, v]}, ...]'")
    homography.add_argument(
        "--out", type=pathlib.Path, default=None,
        help="also write a ROS 2 parameter file (/**: ros__parameters: x_alignment, x_homography)")
    homography.add_argument(
        "--ransac-threshold", type=float, default=3.0,
        help="with more than 4 pairs, pairs whose reprojection error exceeds this many RGB pixels are "
             "rejected as outliers by RANSAC; 0 fits all pairs by least squares (default: 3)")
    homography.add_argument(
        "--x-camera", type=pathlib.Path, default=None,
        help="X camera calibration (camera_calibration YAML or a CameraInfo dump): undistort the X points "
             "first. Use it when the node receives the X camera_info (it then undistorts X before the "
             "homography)")
    homography.add_argument(
        "--rgb-camera", type=pathlib.Path, default=None,
        help="RGB camera calibration: undistort the RGB points first (same rule as --x-camera)")


def run(args: argparse.Namespace) -> int:
    if args.calibrate_target != "homography":  # argparse already restricts it; kept for clarity
        raise UsageError(f"unknown calibrate target {args.calibrate_target!r}; use: homography")
    if not args.ransac_threshold >= 0:
        raise UsageError(f"--ransac-threshold={args.ransac_threshold} must be >= 0 (pixels)")
    pairs = load_point_pairs(args.points)
    x_points, rgb_points = pairs[:, :2].copy(), pairs[:, 2:].copy()
    for option, role, points in (("--x-camera", "x", x_points), ("--rgb-camera", "rgb", rgb_points)):
        path = getattr(args, option[2:].replace("-", "_"))
        if path is not None:
            camera = CameraModel.from_yaml(str(path), name=f"{role} camera calibration {path}")
            points[:] = _undistort_pixels(camera, points)
            if not np.all(np.isfinite(points)):
                raise UsageError(f"some {role.upper()} points of {args.points} lie outside the lens model of {path}")
    try:
        H, errors, inliers = fit_homography(x_points, rgb_points, args.ransac_threshold)
    except AlignmentError as error:
        raise UsageError(f"{args.points}: {error}") from None

    use_ransac = len(pairs) > 4 and args.ransac_threshold > 0
    rms = float(np.sqrt(np.mean(errors[inliers] ** 2)))
    summary = (f"x_homography from {len(pairs)} point pairs in {args.points}: {int(inliers.sum())} inliers"
               + (f" (RANSAC threshold {args.ransac_threshold:g} px)" if use_ransac else "")
               + f", RMS reprojection error {rms:.3f} px")
    lines = [f"# {summary}", "#", "# pair      x_u      x_v    rgb_u    rgb_v  error_px  inlier"]
    for index, (row, error, inlier) in enumerate(zip(pairs, errors, inliers)):
        lines.append(f"# {index:4d} {row[0]:8.2f} {row[1]:8.2f} {row[2]:8.2f} {row[3]:8.2f} {error:9.3f}  "
                     f"{'yes' if inlier else 'NO'}")
    if len(pairs) == 4:
        lines.append("# note: 4 pairs fit exactly (error 0 by construction) and cannot reveal a wrong pair; "
                     "use 8 or more")
    outliers = [str(i) for i in np.flatnonzero(~inliers)]
    if outliers:
        lines.append(f"# outliers (not used): pairs {', '.join(outliers)}; check that they match")
    for note in _undistortion_notes(args):
        lines.append(f"# {note}")
    lines += ["# paste under ros__parameters of the segmentation node:", *_parameter_lines(H)]
    print("\n".join(lines))

    if args.out is not None:
        body = [f"# generated by rxssnet calibrate homography: {summary}", "/**:", "  ros__parameters:"]
        body += [f"    {line}" for line in _parameter_lines(H)]
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text("\n".join(body) + "\n", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--out {args.out} cannot be written: {error}") from None
        print(f"# wrote {args.out}")
    return 0


def _yaml_float(value: float) -> str:
    # ROS parameter lists must not mix integers and doubles, and YAML reads "1e-07" as a string: always
    # write a decimal point in the mantissa.
    text = f"{float(value):.10g}"
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + (f"e{exponent}" if exponent else "")


def _parameter_lines(H: Any) -> list[str]:
    values = ", ".join(_yaml_float(v) for v in H.ravel())
    return ["x_alignment: homography", f"x_homography: [{values}]  # row-major, X pixels -> RGB pixels"]


def _undistortion_notes(args: argparse.Namespace) -> list[str]:
    notes = []
    if args.x_camera is not None or args.rgb_camera is not None:
        notes.append("points were undistorted: give the node the same camera_info topics, it then undistorts "
                     "before applying x_homography")
    return notes


def _undistort_pixels(camera: Any, points: Any) -> Any:
    """Raw pixels -> undistorted pixels of the same camera matrix."""
    x, y = camera.normalize(points[:, 0], points[:, 1])
    K = camera.K
    return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1)


def load_point_pairs(path: pathlib.Path) -> Any:
    """Read (N, 4) point pairs x_u, x_v, rgb_u, rgb_v from a .csv or .yaml file."""
    if not path.is_file():
        raise FileNotFoundError(f"--points {path} does not exist; write one pair per line: x_u,x_v,rgb_u,rgb_v")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        rows = _read_csv(path)
    elif suffix in (".yaml", ".yml"):
        rows = _read_yaml(path)
    else:
        raise UsageError(f"--points {path}: unknown file type {suffix!r}; use .csv or .yaml")
    pairs = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if len(pairs) < 4:
        raise UsageError(f"--points {path} has {len(pairs)} point pairs; a homography needs at least 4 "
                         "(8 or more to detect a wrong pair)")
    return pairs


def _numbers(values: Any, where: str) -> list[float]:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise UsageError(f"{where}: expected 4 numbers x_u, x_v, rgb_u, rgb_v, got {values!r}") from None
    if len(numbers) != 4:
        raise UsageError(f"{where}: expected 4 numbers x_u, x_v, rgb_u, rgb_v, got {len(numbers)}: {values!r}")
    if not all(math.isfinite(v) for v in numbers):
        raise UsageError(f"{where}: values must be finite, got {values!r}")
    return numbers


def _read_csv(path: pathlib.Path) -> list[list[float]]:
    rows: list[list[float]] = []
    order: list[int] | None = None
    with path.open(newline="", encoding="utf-8") as stream:
        for line_number, row in enumerate(csv.reader(stream), start=1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if order is None and not rows and not _is_number(cells[0]):
                header = [cell.lower() for cell in cells]
                missing = [name for name in CSV_COLUMNS if name not in header]
                if missing:
                    raise UsageError(f"{path} line {line_number}: header {cells} lacks column(s) {missing}; "
                                     f"expected {','.join(CSV_COLUMNS)}")
                order = [header.index(name) for name in CSV_COLUMNS]
                continue
            if order is not None:
                if len(cells) < len(order) or max(order) >= len(cells):
                    raise UsageError(f"{path} line {line_number}: expected {len(CSV_COLUMNS)} columns "
                                     f"{','.join(CSV_COLUMNS)}, got {cells}")
                cells = [cells[i] for i in order]
            rows.append(_numbers(cells, f"{path} line {line_number}"))
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_yaml(path: pathlib.Path) -> list[list[float]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"{path} is not valid YAML: {error}") from None
    if isinstance(data, dict):
        key = next((k for k in ("pairs", "points") if k in data), None)
        if key is None:
            raise UsageError(f"{path}: expected a key 'pairs' with a list of point pairs, found keys {sorted(data)}")
        data = data[key]
    if not isinstance(data, list):
        raise UsageError(f"{path}: 'pairs' must be a list of [x_u, x_v, rgb_u, rgb_v] or {{x: [u, v], rgb: [u, v]}}")
    rows = []
    for index, entry in enumerate(data):
        where = f"{path} pair {index}"
        if isinstance(entry, dict):
            if "x" in entry and "rgb" in entry:
                x, rgb = entry["x"], entry["rgb"]
                if not (isinstance(x, list) and isinstance(rgb, list)):
                    raise UsageError(f"{where}: 'x' and 'rgb' must be [u, v] lists, got {entry!r}")
                values = [*x, *rgb]
            elif all(name in entry for name in CSV_COLUMNS):
                values = [entry[name] for name in CSV_COLUMNS]
            else:
                raise UsageError(f"{where}: expected keys x and rgb (or {', '.join(CSV_COLUMNS)}), got {entry!r}")
        elif isinstance(entry, list):
            values = entry
        else:
            raise UsageError(f"{where}: expected [x_u, x_v, rgb_u, rgb_v], got {entry!r}")
        rows.append(_numbers(values, where))
    return rows
