# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet calibrate homography` on generated point pairs with a known homography."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import pytest
import yaml

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import CameraModel
from rxssnet_core.cli import main

H_TRUE = np.array([[1.9, 0.04, 14.0], [-0.02, 2.05, 12.5], [1.2e-4, -0.8e-4, 1.0]])
OUTLIERS = (3, 9)


def calibrate(*argv: str) -> int:
    return main(["calibrate", *argv])


def generated_pairs(count: int = 12, noise: float = 0.2) -> np.ndarray:
    """X points spread over a 160x128 image, their RGB images under H_TRUE plus noise, two gross outliers."""
    rng = np.random.default_rng(11)
    x_points = np.c_[rng.uniform(5, 155, count), rng.uniform(5, 123, count)]
    rgb_points = cv2.perspectiveTransform(x_points.reshape(-1, 1, 2), H_TRUE).reshape(-1, 2)
    rgb_points += rng.normal(0, noise, rgb_points.shape)
    for index in OUTLIERS:
        if index < count:
            rgb_points[index] += (25.0, -18.0)  # a mis-clicked pair
    return np.c_[x_points, rgb_points]


def write_csv(path: pathlib.Path, pairs: np.ndarray, header: bool = True) -> pathlib.Path:
    lines = ["# clicked in rviz", "x_u,x_v,rgb_u,rgb_v"] if header else []
    lines += [",".join(f"{v:.4f}" for v in row) for row in pairs]
    path.write_text("\n".join(lines) + "\n")
    return path


def mapping_error(H: np.ndarray, points: np.ndarray) -> float:
    """Largest distance between H and H_TRUE images of X points (pixels)."""
    mapped = cv2.perspectiveTransform(points.reshape(-1, 1, 2), H)
    truth = cv2.perspectiveTransform(points.reshape(-1, 1, 2), H_TRUE)
    return float(np.abs(mapped - truth).max())


def test_fits_with_ransac_reports_every_pair_and_writes_a_parameter_file(tmp_path, capsys) -> None:
    pairs = generated_pairs()
    out = tmp_path / "config" / "homography.yaml"
    assert calibrate("homography", "--points", str(write_csv(tmp_path / "pairs.csv", pairs)),
                     "--out", str(out), "--ransac-threshold", "3") == 0
    printed = capsys.readouterr().out
    rows = [line.split() for line in printed.splitlines() if line.startswith("# ") and line.split()[1].isdigit()]
    assert [int(row[1]) for row in rows] == list(range(len(pairs)))
    flagged = [int(row[1]) for row in rows if row[-1] == "NO"]
    assert flagged == list(OUTLIERS)
    errors = np.array([float(row[6]) for row in rows])
    inlier = np.ones(len(pairs), dtype=bool)
    inlier[list(OUTLIERS)] = False
    assert errors[inlier].max() < 1.0 and errors[~inlier].min() > 20.0
    assert "10 inliers" in printed and "outliers (not used): pairs 3, 9" in printed

    # The whole stdout is YAML: the table is comments, the snippet is the node's parameters.
    snippet = yaml.safe_load(printed)
    assert snippet["x_alignment"] == "homography"
    assert len(snippet["x_homography"]) == 9 and all(isinstance(v, float) for v in snippet["x_homography"])
    grid = np.stack(np.meshgrid(np.linspace(0, 159, 9), np.linspace(0, 127, 7)), -1).reshape(-1, 2)
    assert mapping_error(np.reshape(snippet["x_homography"], (3, 3)), grid) < 0.5

    params = yaml.safe_load(out.read_text())["/**"]["ros__parameters"]
    assert params == snippet
    config = AlignmentConfig.from_params(params)
    assert config.mode == "homography" and mapping_error(config.homography, grid) < 0.5


def test_yaml_point_files_in_both_layouts_give_the_csv_result(tmp_path, capsys) -> None:
    pairs = generated_pairs(noise=0.0)[:8]
    as_lists = tmp_path / "lists.yaml"
    as_lists.write_text(yaml.safe_dump({"pairs": pairs.tolist()}))
    as_dicts = tmp_path / "dicts.yml"
    as_dicts.write_text(yaml.safe_dump({"pairs": [{"x": row[:2].tolist(), "rgb": row[2:].tolist()} for row in pairs]}))
    results = []
    for path in (write_csv(tmp_path / "p.csv", pairs, header=False), as_lists, as_dicts):
        assert calibrate("homography", "--points", str(path), "--ransac-threshold", "0") == 0
        results.append(np.reshape(yaml.safe_load(capsys.readouterr().out)["x_homography"], (3, 3)))
    for result in results[1:]:  # the CSV holds 4 decimals, the YAML files full precision
        moved = cv2.perspectiveTransform(pairs[:, None, :2], result) - cv2.perspectiveTransform(pairs[:, None, :2],
                                                                                                results[0])
        assert np.abs(moved).max() < 0.01
    # Pair 3 is off by 30 px and least squares (threshold 0) has to absorb it: no pair flagged, larger error.
    assert mapping_error(results[0], pairs[:, :2]) > 1.0


def test_four_exact_pairs_give_a_homography_that_moves_x_onto_rgb(tmp_path, capsys) -> None:
    x_points = np.array([[10.0, 10.0], [150.0, 12.0], [148.0, 118.0], [12.0, 115.0]])
    rgb_points = cv2.perspectiveTransform(x_points.reshape(-1, 1, 2), H_TRUE).reshape(-1, 2)
    path = write_csv(tmp_path / "four.csv", np.c_[x_points, rgb_points])
    assert calibrate("homography", "--points", str(path), "--out", str(tmp_path / "h.yaml")) == 0
    printed = capsys.readouterr().out
    assert "4 pairs fit exactly" in printed
    params = yaml.safe_load((tmp_path / "h.yaml").read_text())["/**"]["ros__parameters"]
    # A bright dot in the X image lands where H_TRUE sends it in the RGB image.
    thermal = np.zeros((128, 160), dtype=np.float32)
    thermal[60:63, 80:83] = 1.0
    aligned = XAligner(AlignmentConfig.from_params(params)).align(thermal, (300, 360))
    row, col = np.unravel_index(np.argmax(cv2.GaussianBlur(aligned, (0, 0), 2.0)), aligned.shape)
    expected = cv2.perspectiveTransform(np.array([[[81.0, 61.0]]]), H_TRUE).ravel()
    assert abs(col - expected[0]) <= 1 and abs(row - expected[1]) <= 1


def test_x_camera_calibration_undistorts_the_x_points(tmp_path, capsys) -> None:
    """Points clicked in a distorted X image fit a homography only once undistorted with --x-camera."""
    camera = CameraModel(K=[[150.0, 0, 80.0], [0, 150.0, 64.0], [0, 0, 1]], D=[-0.3, 0.08, 0, 0, 0],
                         distortion_model="plumb_bob", width=160, height=128)
    rng = np.random.default_rng(5)
    ideal = np.c_[rng.uniform(5, 155, 10), rng.uniform(5, 123, 10)]
    K = camera.K
    raw_u, raw_v = camera.project((ideal[:, 0] - K[0, 2]) / K[0, 0], (ideal[:, 1] - K[1, 2]) / K[1, 1])
    rgb_points = cv2.perspectiveTransform(ideal.reshape(-1, 1, 2), H_TRUE).reshape(-1, 2)
    path = write_csv(tmp_path / "raw.csv", np.c_[raw_u, raw_v, rgb_points])
    calibration = tmp_path / "x_camera.yaml"  # camera_calibration's file format
    calibration.write_text(yaml.safe_dump({
        "image_width": 160, "image_height": 128, "camera_name": "thermal", "distortion_model": "plumb_bob",
        "camera_matrix": {"rows": 3, "cols": 3, "data": K.ravel().tolist()},
        "distortion_coefficients": {"rows": 1, "cols": 5, "data": camera.D.tolist()}}))

    assert calibrate("homography", "--points", str(path), "--ransac-threshold", "0") == 0
    raw_fit = capsys.readouterr().out
    assert calibrate("homography", "--points", str(path), "--ransac-threshold", "0",
                     "--x-camera", str(calibration)) == 0
    undistorted_fit = capsys.readouterr().out

    def rms(text: str) -> float:
        return float(text.split("RMS reprojection error ")[1].split(" px")[0])

    assert rms(undistorted_fit) < 0.01 < 1.0 < rms(raw_fit)
    assert "points were undistorted" in undistorted_fit
    H = np.reshape(yaml.safe_load(undistorted_fit)["x_homography"], (3, 3))
    assert mapping_error(H, ideal) < 0.01


@pytest.mark.parametrize(("content", "suffix", "expected"), [
    ("x_u,x_v,rgb_u,rgb_v\n1,2,3,4\n5,6,7,8\n", ".csv", "has 2 point pairs; a homography needs at least 4"),
    ("1,1,2,2\n2,2,4,4\n3,3,6,6\n4,4,8,8\n5,5,10,10\n", ".csv", "the X points lie on one line"),
    ("1,1,2,2\n20,2,40,4\n3,30,6,60\noops,4,8,8\n", ".csv", "line 4: expected 4 numbers x_u, x_v, rgb_u, rgb_v"),
    ("1,1,2,2\n20,2,40,4,9\n", ".csv", "line 2: expected 4 numbers"),
    ("u,v,a,b\n1,1,2,2\n", ".csv", "lacks column(s) ['x_u', 'x_v', 'rgb_u', 'rgb_v']"),
    ("1,1,2,2\n20,2,40,nan\n3,30,6,60\n9,9,9,9\n", ".csv", "line 2: values must be finite"),
    ("pairs:\n  - [1, 2, 3]\n", ".yaml", "pair 0: expected 4 numbers"),
    ("pairs:\n  - {x: [1, 2]}\n", ".yaml", "pair 0: expected keys x and rgb"),
    ("points_xy: []\n", ".yaml", "expected a key 'pairs'"),
    ("pairs: [1, 2\n", ".yaml", "is not valid YAML"),
    ("1,1,2,2\n", ".json", "unknown file type '.json'; use .csv or .yaml"),
])
def test_bad_point_files_name_the_file_and_the_problem(tmp_path, capsys, content, suffix, expected) -> None:
    path = tmp_path / f"pairs{suffix}"
    path.write_text(content)
    assert calibrate("homography", "--points", str(path)) == 2
    message = capsys.readouterr().err
    assert message.startswith("rxssnet calibrate: error:") and str(path) in message and expected in message


def test_missing_files_and_bad_options(tmp_path, capsys) -> None:
    assert calibrate("homography", "--points", str(tmp_path / "missing.csv")) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err
    pairs = write_csv(tmp_path / "pairs.csv", generated_pairs())
    assert calibrate("homography", "--points", str(pairs), "--ransac-threshold", "-1") == 2
    assert "--ransac-threshold=-1.0 must be >= 0" in capsys.readouterr().err
    assert calibrate("homography", "--points", str(pairs), "--x-camera", str(tmp_path / "nope.yaml")) == 2
    assert "nope.yaml cannot be read" in capsys.readouterr().err


def test_help_lists_the_options(capsys) -> None:
    for argv in (["--help"], ["homography", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            calibrate(*argv)
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "homography" in text and "--points" in text and "--ransac-threshold" in text and "--out" in text
