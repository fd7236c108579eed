# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Calibration images: pairs from a folder, preprocessed exactly like inference, or synthetic scenes.

Used by the int8 calibration (TensorRT, OpenVINO) and by the fp16 precision plan (`rxssnet_core.precision_plan`),
which measures activation ranges on them. A folder may hold the generic RGB-X layout, side-by-side files or RGBA
PNGs (`find_image_pairs`); without one, `synthetic_calibration_arrays` renders the synthetic RGB-thermal scenes.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from rxssnet_core.data.io import IMAGE_EXTENSIONS, DatasetError, read_array, read_rgb, read_x
from rxssnet_core.data.synthetic import generate_scene
from rxssnet_core.inference.backends.base import require_module
from rxssnet_core.preprocessing import PreprocessConfig, prepare_inputs

# Folder names of the generic RGB-X layout (CMX / Sigma / DFormer use RGB + Modal; others name the modality).
RGB_FOLDERS = ("rgb", "vis", "visible", "color", "colour", "image", "images")
X_FOLDERS = ("modal", "x", "thermal", "th", "ir", "infrared", "depth", "hha", "disparity", "polarization",
             "aolp", "dolp", "nir")
# File-name suffixes of pairs stored side by side (the RXSSNet author's `<id>_rgb.png` + `<id>_th.png`).
RGB_SUFFIXES = ("_rgb", "_vis", "_color")
X_SUFFIXES = ("_th", "_x", "_ir", "_thermal", "_depth", "_hha", "_disparity", "_modal", "_aolp", "_dolp")


def _images_in(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    return {str(p.relative_to(folder).with_suffix("")): p for p in sorted(folder.rglob("*"))
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()}


def _split_suffix(stem: str, suffixes: Sequence[str]) -> str | None:
    lowered = stem.lower()
    for suffix in suffixes:
        if lowered.endswith(suffix):
            return stem[: -len(suffix)]
    return None


def find_image_pairs(folder: str | pathlib.Path) -> list[tuple[pathlib.Path, pathlib.Path | None]]:
    """RGB/X image pairs under `folder`, sorted; X is None for 4-channel images holding X in alpha (MFNet).

    Accepted layouts: generic (`RGB/` + `Modal/`, `Thermal/`, `Depth/`, ... paired by relative name), side by
    side (`<id>_rgb.png` + `<id>_th.png`, `_x`, `_ir`, `_depth`, ...), or a folder of RGBA PNGs.
    """
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"calibration folder {str(root)!r} does not exist (--calibration-dir)")
    subfolders = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    rgb_dir = next((subfolders[n] for n in RGB_FOLDERS if n in subfolders), None)
    x_dir = next((subfolders[n] for n in X_FOLDERS if n in subfolders), None)
    if rgb_dir is not None and x_dir is not None:
        rgb_files, x_files = _images_in(rgb_dir), _images_in(x_dir)
        pairs: list[tuple[pathlib.Path, pathlib.Path | None]] = [
            (rgb_files[k], x_files[k]) for k in sorted(rgb_files) if k in x_files]
        if pairs:
            return pairs

    files = _images_in(root)
    rgb_by_id = {key: files[name] for name in files if (key := _split_suffix(name, RGB_SUFFIXES)) is not None}
    x_by_id = {key: files[name] for name in files if (key := _split_suffix(name, X_SUFFIXES)) is not None}
    pairs = [(rgb_by_id[k], x_by_id.get(k)) for k in sorted(rgb_by_id) if k in x_by_id]
    if pairs:
        return pairs

    rgba = [p for p in files.values() if p.suffix.lower() in (".png", ".tif", ".tiff") and _channels(p) == 4]
    if rgba:
        return [(p, None) for p in rgba]
    raise FileNotFoundError(
        f"no RGB/X image pairs found in {str(root)!r}; use a generic layout (RGB/ and Modal/ or Thermal/, "
        "Depth/, ... with matching names), side-by-side files (<id>_rgb.png and <id>_th.png, _x, _ir, "
        "_depth) or 4-channel RGBA PNGs with X in alpha (MFNet)")


def _channels(path: pathlib.Path) -> int:
    cv2 = require_module("cv2", "opencv-python-headless")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return 0 if image is None else (1 if image.ndim == 2 else int(image.shape[2]))


def read_image_pair(rgb_path: pathlib.Path, x_path: pathlib.Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Read one pair as (H, W, 3) uint8 RGB and X as stored (uint8/uint16/float32; 3-channel X in RGB order),
    by the dataset readers' rules (`rxssnet_core.data.io`: the same decoding as training and evaluation).
    x_path None: a 4-channel image with X in alpha (MFNet). Raises DatasetError naming the file.
    """
    if x_path is not None:
        return read_rgb(rgb_path), read_x(x_path)
    rgbx = read_array(rgb_path, "RGB+X image")
    if rgbx.ndim != 3 or rgbx.shape[2] != 4 or rgbx.dtype != np.uint8:
        raise DatasetError(f"{str(rgb_path)!r} has no X image beside it and is not an 8-bit 4-channel image "
                           "(RGB + X in alpha); give RGB/X pairs (see --calibration-dir in `rxssnet export --help`)")
    return np.ascontiguousarray(rgbx[:, :, :3]), np.ascontiguousarray(rgbx[:, :, 3])


def calibration_batches(pairs: Sequence[tuple[pathlib.Path, pathlib.Path | None]],
                        preprocess: PreprocessConfig, size: tuple[int, int], progress: bool = True
                        ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Network inputs ((1,3,H,W), (1,C,H,W)) float32 at `size`, preprocessed exactly like inference."""
    for rgb_path, x_path in tqdm(pairs, desc="INT8 calibration", unit="image", disable=not progress):
        rgb, x = read_image_pair(rgb_path, x_path)
        rgb_chw, x_chw = prepare_inputs(rgb, x, preprocess, size)
        yield rgb_chw[None], x_chw[None]


def select_evenly(items: Sequence[Any], count: int) -> list[Any]:
    """`count` items spread over the whole list (calibration should see every part of a sequence)."""
    if count <= 0 or count >= len(items):
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


def calibration_arrays(calibration_dir: str | pathlib.Path, preprocess: PreprocessConfig, size: tuple[int, int],
                       count: int = 64, progress: bool = True) -> dict[str, np.ndarray]:
    """{"rgb": (N,3,H,W), "x": (N,C,H,W)} float32 from `count` pairs spread over the folder, preprocessed
    exactly like inference (the calibration data of `int8_qdq_onnx`).
    """
    pairs = select_evenly(find_image_pairs(calibration_dir), count)
    batches = list(calibration_batches(pairs, preprocess, size, progress))
    return {"rgb": np.concatenate([b[0] for b in batches]), "x": np.concatenate([b[1] for b in batches])}


def synthetic_calibration_arrays(preprocess: PreprocessConfig, size: tuple[int, int], x_channels: int,
                                 count: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """{"rgb": (N,3,H,W), "x": (N,C,H,W)} float32 from the synthetic RGB-thermal scenes at `size`, preprocessed
    with `preprocess` (the thermal image replicated to `x_channels`): calibration when no images are given.
    """
    rng = np.random.default_rng(seed)
    rgbs, xs = [], []
    for _ in range(max(1, count)):
        rgb, thermal, _label = generate_scene(rng, size)
        x = thermal if x_channels == 1 else np.repeat(thermal[:, :, None], x_channels, axis=2)
        rgb_chw, x_chw = prepare_inputs(rgb, x, preprocess, size)
        rgbs.append(rgb_chw)
        xs.append(x_chw)
    return {"rgb": np.stack(rgbs), "x": np.stack(xs)}


def calibration_inputs(preprocess: PreprocessConfig, size: tuple[int, int], x_channels: int,
                       calibration_dir: str | pathlib.Path | None = None, count: int = 8, progress: bool = True
                       ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Calibration arrays from `calibration_dir` when given, else synthetic scenes; with a description
    ({"source", "images", "size"}) for the records of what was calibrated on.
    """
    if calibration_dir is not None:
        arrays = calibration_arrays(calibration_dir, preprocess, size, count, progress)
        source = str(calibration_dir)
    else:
        arrays = synthetic_calibration_arrays(preprocess, size, x_channels, count)
        source = "synthetic scenes (rxssnet_core.data.synthetic; give --calibration-dir for the robot's images)"
    return arrays, {"source": source, "images": len(arrays["rgb"]), "size": [int(size[0]), int(size[1])]}
