# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Miniature copies of each dataset's native tree, for tests (import: `from data_factories import make_mfnet_tree`).

Every `make_*_tree(tmp_path, ...)` writes small images (default 24x32) in the exact folder layout, file naming,
split files and encodings of /work/shared/reference/datasets.md's "sample tree for tests", and returns the
folder to pass to `build_dataset` as root. Files are written with Pillow (never with the code under test), and
their content is a deterministic function of the stem (`rng_for(stem)`), so tests can read them back
independently and compare exactly.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (24, 32)  # (H, W): tiny, and not square, so H/W mix-ups show


def rng_for(stem: str, salt: str = "") -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{stem}{salt}".encode()))


def voc_palette(n: int) -> np.ndarray:
    """PASCAL-VOC colour map (independent copy, so tests do not trust the code under test)."""
    out = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out


# --- primitive writers (Pillow) ------------------------------------------------------------------------------
def save(path: Path, array: np.ndarray) -> Path:
    """Writes uint8 (H,W), (H,W,3), (H,W,4) or uint16 (H,W) with Pillow; `.npy` with numpy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, array)
    elif array.dtype == np.uint16:
        Image.fromarray(array).save(path)  # mode I;16
    else:
        Image.fromarray(np.ascontiguousarray(array)).save(path)
    return path


def save_palette_label(path: Path, label: np.ndarray, palette: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", (label.shape[1], label.shape[0]), np.ascontiguousarray(label, np.uint8).tobytes())
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(palette)] = palette
    image.putpalette(flat.reshape(-1).tolist())
    image.save(path)
    return path


def rgb_image(stem: str, size: tuple[int, int] = SIZE) -> np.ndarray:
    """R = column ramp, G = row ramp, B = random: any channel swap, flip or transpose changes the values."""
    h, w = size
    rows, cols = np.mgrid[0:h, 0:w]
    blue = rng_for(stem, "b").integers(0, 256, size=(h, w))
    return np.stack([(cols * 7) % 256, (rows * 11) % 256, blue], axis=2).astype(np.uint8)


def thermal8(stem: str, size: tuple[int, int] = SIZE, holes: bool = False) -> np.ndarray:
    t = rng_for(stem, "t").integers(13, 234, size=size).astype(np.uint8)
    if holes:
        t[:, :3] = 0  # projection holes at the left border (PST900)
    return t


def label_image(stem: str, num_values: int, size: tuple[int, int] = SIZE, extra: Sequence[int] = ()) -> np.ndarray:
    """Labels covering every value in [0, num_values) (first pixels), then random; `extra` values appended."""
    lab = rng_for(stem, "l").integers(0, num_values, size=size).astype(np.uint8)
    flat = lab.reshape(-1)
    flat[:num_values] = np.arange(num_values)
    for i, value in enumerate(extra):
        flat[num_values + i] = value
    return lab


# --- MFNet ----------------------------------------------------------------------------------------------------
def make_mfnet_tree(tmp_path: Path, size: tuple[int, int] = SIZE,
                    splits: dict[str, list[str]] | None = None) -> Path:
    """MFNet/ir_seg_dataset: images/<name>.png RGBA (alpha = thermal), labels/<name>.png (0..8), split txts."""
    root = Path(tmp_path) / "MFNet" / "ir_seg_dataset"
    splits = splits or {"train": ["00001D", "00002N"], "val": ["00003D"], "test": ["00003D"]}
    for stem in sorted({s for stems in splits.values() for s in stems}):
        rgba = np.concatenate([rgb_image(stem, size), thermal8(stem, size)[:, :, None]], axis=2)
        save(root / "images" / f"{stem}.png", rgba)
        save(root / "labels" / f"{stem}.png", label_image(stem, 9, size))
    for split, stems in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems))
    return root


# --- PST900 ---------------------------------------------------------------------------------------------------
def make_pst900_tree(tmp_path: Path, size: tuple[int, int] = SIZE) -> Path:
    """PST900_RGBT_Dataset/{train,test}/{rgb,thermal,thermal_raw,depth,labels}/<stem>.png, no split files."""
    root = Path(tmp_path) / "PST900_RGBT_Dataset"
    stems = {"train": ["31_bag1a_rect_rgb_frame0000000007", "31_bag1a_rect_rgb_frame0000000008"],
             "test": ["32_bag2_rect_rgb_frame0000000100"]}
    for split, names in stems.items():
        for stem in names:
            folder = root / split
            save(folder / "rgb" / f"{stem}.png", rgb_image(stem, size))
            save(folder / "thermal" / f"{stem}.png", thermal8(stem, size, holes=True))
            raw = rng_for(stem, "raw").integers(20000, 40000, size=size).astype(np.uint16)
            save(folder / "thermal_raw" / f"{stem}.png", raw)
            save(folder / "depth" / f"{stem}.png", rng_for(stem, "d").integers(0, 60000, size=size).astype(np.uint16))
            save(folder / "labels" / f"{stem}.png", label_image(stem, 5, size))
    return root


# --- FMB ------------------------------------------------------------------------------------------------------
FMB_PALETTE = np.array([[0, 0, 0], [228, 228, 179], [133, 57, 181], [177, 162, 67], [50, 178, 200],
                        [199, 45, 132], [84, 172, 66], [79, 73, 179], [166, 99, 76], [253, 121, 66],
                        [91, 165, 137], [152, 97, 155], [140, 153, 105], [158, 215, 222], [90, 113, 135]],
                       dtype=np.uint8)


def make_fmb_tree(tmp_path: Path, size: tuple[int, int] = SIZE, infrared_channels: int = 1) -> Path:
    """FMB/{train,test}/{Visible,Infrared,Label,color}/<stem>.png; labels 0..14 plus some 255."""
    root = Path(tmp_path) / "FMB"
    for split, stem in (("train", "00001"), ("test", "00002")):
        ir = thermal8(stem, size)
        if infrared_channels == 3:
            ir = np.repeat(ir[:, :, None], 3, axis=2)
        label = label_image(stem, 15, size, extra=(255, 255))
        save(root / split / "Visible" / f"{stem}.png", rgb_image(stem, size))
        save(root / split / "Infrared" / f"{stem}.png", ir)
        save(root / split / "Label" / f"{stem}.png", label)
        colour = np.zeros((*size, 3), dtype=np.uint8)
        colour[label < 15] = FMB_PALETTE[label[label < 15]]
        save(root / split / "color" / f"{stem}.png", colour)
    return root


# --- Cityscapes -----------------------------------------------------------------------------------------------
CITYSCAPES_IDS = (0, 4, 7, 8, 11, 12, 13, 14, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def cityscapes_label_ids(stem: str, size: tuple[int, int]) -> np.ndarray:
    ids = np.array(CITYSCAPES_IDS, dtype=np.uint8)
    lab = ids[rng_for(stem, "l").integers(0, len(ids), size=size)]
    lab.reshape(-1)[: len(ids)] = ids
    return lab


def cityscapes_disparity(stem: str, size: tuple[int, int]) -> np.ndarray:
    disp = rng_for(stem, "d").integers(2, 256 * 100, size=size).astype(np.uint16)
    disp.reshape(-1)[:3] = (0, 1, 257)  # invalid, d = 0.0, d = 1.0
    return disp


def make_cityscapes_tree(tmp_path: Path, size: tuple[int, int] = SIZE, with_test: bool = False) -> Path:
    """cityscapes/{leftImg8bit,disparity,gtFine,camera}/{train,val}/<city>/<city>_<seq>_<frame>_<type>.<ext>."""
    root = Path(tmp_path) / "cityscapes"
    frames = [("train", "aachen", "aachen_000000_000019"), ("val", "frankfurt", "frankfurt_000000_000294"),
              ("val", "lindau", "lindau_000001_000019")]
    if with_test:
        frames.append(("test", "berlin", "berlin_000000_000019"))
    for split, city, stem in frames:
        save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb_image(stem, size))
        save(root / "disparity" / split / city / f"{stem}_disparity.png", cityscapes_disparity(stem, size))
        if split != "test":
            save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", cityscapes_label_ids(stem, size))
        camera = root / "camera" / split / city / f"{stem}_camera.json"
        camera.parent.mkdir(parents=True, exist_ok=True)
        camera.write_text(json.dumps({"extrinsic": {"baseline": 0.209313}, "intrinsic": {"fx": 2262.52}}))
    return root


# --- NYUv2 ----------------------------------------------------------------------------------------------------
def nyu_depth_m(stem: str, size: tuple[int, int]) -> np.ndarray:
    return rng_for(stem, "d").uniform(0.5, 10.0, size=size).astype(np.float32)


def make_nyuv2_tree(tmp_path: Path, size: tuple[int, int] = SIZE, flavour: str = "sagate") -> Path:
    """NYUDepthv2/{RGB,HHA,Depth,Label}/<n>.* with train.txt (stem 2) and test.txt (stems 0, 1).

    flavour: "sagate" (lines `RGB/<n>.jpg<TAB>Label/<n>.png`, Depth .npy metres), "cmx" (bare `<n>`, .npy) or
    "dformer" (`RGB/<n>.jpg`, Depth/<n>.png 8-bit RGBA with R=G=B). Labels are P-mode with a grey-ramp palette.
    """
    root = Path(tmp_path) / f"NYUDepthv2_{flavour}"
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    for stem in ("0", "1", "2"):
        save(root / "RGB" / f"{stem}.jpg", rgb_image(stem, size))
        save(root / "HHA" / f"{stem}.jpg", rgb_image(stem + "hha", size))
        if flavour == "dformer":
            grey = (nyu_depth_m(stem, size) / 10.0 * 255).astype(np.uint8)
            save(root / "Depth" / f"{stem}.png", np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
        else:
            save(root / "Depth" / f"{stem}.npy", nyu_depth_m(stem, size))
        save_palette_label(root / "Label" / f"{stem}.png", label_image(stem, 41, size), ramp)

    def line(n: str) -> str:
        return {"sagate": f"RGB/{n}.jpg\tLabel/{n}.png", "cmx": n, "dformer": f"RGB/{n}.jpg"}[flavour]

    (root / "train.txt").write_text(f"{line('2')}\n")
    (root / "test.txt").write_text(f"{line('0')}\n{line('1')}\n")
    return root


# --- ZJU-RGB-P ------------------------------------------------------------------------------------------------
def zju_angle_images(stem: str, size: tuple[int, int], grey: bool = False) -> dict[str, np.ndarray]:
    """Four colour images with I0 + I90 = I45 + I135 (a physically consistent linear polarisation).

    grey=True makes R = G = B, so the monochromatic reduction is exact and tests can recompute it.
    """
    rng = rng_for(stem, "p")
    shape = (*size, 1) if grey else (*size, 3)
    s0 = np.broadcast_to(rng.uniform(80, 160, size=shape), (*size, 3))
    dolp = np.broadcast_to(rng.uniform(0.0, 0.6, size=shape), (*size, 3))
    aolp = np.broadcast_to(rng.uniform(0.0, np.pi, size=shape), (*size, 3))
    out = {}
    for angle in (0, 45, 90, 135):
        intensity = 0.5 * s0 * (1 + dolp * np.cos(2 * (aolp - np.deg2rad(angle))))
        out[str(angle)] = np.clip(intensity + 0.5, 0, 255).astype(np.uint8)
    return out


def make_zju_tree(tmp_path: Path, size: tuple[int, int] = SIZE, label_mode: str = "P",
                  label_dir: str = "label", grey: bool = False) -> Path:
    """ZJU/{train,val}/{0,45,90,135}/<stem>_<angle>.png and <split>/<label_dir>/<stem>.png (ids 0..8).

    label_mode: "P" (VOC palette indices), "L" (grey ids), "RGB" (VOC colours) or "BGR" (channel-swapped
    colours, as RoadFormer reads them). label_dir "label" or "{split}_label". grey: see zju_angle_images.
    """
    root = Path(tmp_path) / f"ZJU_{label_mode}"
    palette = voc_palette(9)
    for split, stem in (("train", "frameA_image0"), ("val", "frameB_image0")):
        for angle, image in zju_angle_images(stem, size, grey).items():
            save(root / split / angle / f"{stem}_{angle}.png", image)
        label = label_image(stem, 9, size)
        path = root / split / label_dir.format(split=split) / f"{stem}.png"
        if label_mode == "P":
            save_palette_label(path, label, palette)
        elif label_mode == "L":
            save(path, label)
        else:
            colours = palette[label]
            save(path, colours if label_mode == "RGB" else colours[:, :, ::-1])
    return root


# --- generic --------------------------------------------------------------------------------------------------
def generic_x(stem: str, size: tuple[int, int], x_format: str) -> np.ndarray:
    rng = rng_for(stem, "x")
    if x_format == "png8":
        return rng.integers(0, 256, size=size).astype(np.uint8)
    if x_format == "png16":
        return rng.integers(0, 65536, size=size).astype(np.uint16)
    return rng.uniform(0.0, 5.0, size=size).astype(np.float32)  # tiff / npy: float metres


def make_generic_tree(tmp_path: Path, size: tuple[int, int] = SIZE, x_format: str = "png8",
                      stems: Sequence[str] = ("a", "b", "c", "d"), num_classes: int = 3,
                      split_style: str = "splits", with_yaml: bool = True, with_labels: bool = True,
                      modality: str = "thermal") -> Path:
    """<root>/rgb/<stem>.png, x/<stem>.<png|tiff|npy>, labels/<stem>.png, split lists, dataset.yaml.

    x_format: png8, png16, tiff (float32) or npy (float32). split_style: "splits" (splits/<split>.txt),
    "root" (<root>/<split>.txt) or "none". Splits: train = all but the last stem, val = the last.
    """
    import cv2

    root = Path(tmp_path) / f"generic_{x_format}"
    for stem in stems:
        save(root / "rgb" / f"{stem}.png", rgb_image(stem, size))
        x = generic_x(stem, size, x_format)
        if x_format == "tiff":
            (root / "x").mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / "x" / f"{stem}.tiff"), x)  # Pillow cannot write float32 TIFF portably
        else:
            save(root / "x" / f"{stem}.{'npy' if x_format == 'npy' else 'png'}", x)
        if with_labels:
            save(root / "labels" / f"{stem}.png", label_image(stem, num_classes, size, extra=(255,)))
    if split_style != "none":
        folder = root / "splits" if split_style == "splits" else root
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "train.txt").write_text("".join(f"{s}\n" for s in stems[:-1]))
        (folder / "val.txt").write_text(f"{stems[-1]}\n")
    if with_yaml:
        names = ", ".join(f"cls{i}" for i in range(num_classes))
        palette = ", ".join(f"[{10 * i}, {20 * i}, {30 * i}]" for i in range(num_classes))
        (root / "dataset.yaml").write_text(
            f"name: mine\nclass_names: [{names}]\npalette: [{palette}]\nmodality: {modality}\nignore_index: 255\n")
    return root
