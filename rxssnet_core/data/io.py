# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Image files to numpy arrays and back, with errors that name the file.

Colour arrays are always in RGB(A) order here (OpenCV's BGR stays inside this module). Label images are
decoded with Pillow, so palette-mode PNGs give their indices, never the palette colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from rxssnet_core.errors import RXSSNetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
X_EXTENSIONS = (*IMAGE_EXTENSIONS, ".npy")
LABEL_EXTENSIONS = (".png",)


class DatasetError(RXSSNetError, ValueError):
    """A dataset file or folder is missing, unreadable or inconsistent; the message names it and the fix."""


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist (or is not a file)")


def read_array(path: str | Path, what: str = "image") -> np.ndarray:
    """An image (PNG/JPEG/BMP/TIFF, 8/16-bit or float) or `.npy` as stored: (H, W) or (H, W, C), RGB(A)."""
    path = Path(path)
    _require_file(path, what)
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise DatasetError(f"{what} {path} is not a readable .npy array ({error})") from error
    else:
        # imdecode (not imread) so that non-ASCII paths work on every platform.
        array = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise DatasetError(f"{what} {path} is corrupt or not an image OpenCV can read")
        if array.ndim == 3 and array.shape[2] == 3:
            array = array[:, :, ::-1]
        elif array.ndim == 3 and array.shape[2] == 4:
            array = array[:, :, [2, 1, 0, 3]]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or array.shape[0] == 0 or array.shape[1] == 0:
        raise DatasetError(f"{what} {path} has shape {array.shape}; expected (H, W) or (H, W, C)")
    return np.ascontiguousarray(array)


def read_rgb(path: str | Path, what: str = "RGB image") -> np.ndarray:
    """A colour image -> (H, W, 3) uint8 in RGB order (an alpha channel is dropped)."""
    array = read_array(path, what)
    if array.dtype != np.uint8:
        raise DatasetError(
            f"{what} {path} is {array.dtype} ({8 * array.dtype.itemsize}-bit); RGB images must be 8 bits per "
            "channel: convert it to 8-bit (e.g. scale 16-bit values by 1/257)")
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        channels = 1 if array.ndim == 2 else array.shape[2]
        raise DatasetError(
            f"{what} {path} has {channels} channel(s); expected a colour image with 3 channels "
            "(is an X image in the RGB folder?)")
    return np.ascontiguousarray(array[:, :, :3])


def read_x(path: str | Path, what: str = "X image") -> np.ndarray:
    """An X image or `.npy` -> (H, W) or (H, W, 3), uint8, uint16 or float32 (float64/16 become float32).

    A 4-channel image loses its alpha channel (DFormer's depth PNGs are RGBA with R=G=B).
    """
    array = read_array(path, what)
    if array.dtype in (np.float64, np.float16):
        array = array.astype(np.float32)
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        raise DatasetError(
            f"{what} {path} has dtype {array.dtype}; X must be uint8, uint16 or float32")
    if array.ndim == 3:
        if array.shape[2] == 4:
            array = array[:, :, :3]
        elif array.shape[2] != 3:
            raise DatasetError(f"{what} {path} has {array.shape[2]} channels; X must have 1 or 3")
    return np.ascontiguousarray(array)


def to_gray(array: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) luminance in the input dtype (BT.601 weights); (H, W) passes through."""
    if array.ndim == 2:
        return array
    return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2GRAY)


def read_label(path: str | Path, palette: Sequence[Sequence[int]] | np.ndarray | None = None,
               what: str = "label image") -> np.ndarray:
    """A label PNG -> (H, W) uint8 or uint16 raw ids.

    Grey (L, I;16) images give their values and palette (P) images their indices. Colour (RGB) images are
    decoded with `palette` (raw id i has colour palette[i]; both channel orders are tried); without a
    palette they are an error.
    """
    path = Path(path)
    _require_file(path, what)
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            array = np.array(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{what} {path} is corrupt or not an image ({error})") from error
    if mode in ("P", "L", "1"):
        return np.ascontiguousarray(array.astype(np.uint8, copy=False))
    if mode.startswith("I"):
        if array.size and (int(array.min()) < 0 or int(array.max()) > 65535):
            raise DatasetError(f"{what} {path} holds values outside [0, 65535]; class ids must fit 16 bits")
        return np.ascontiguousarray(array.astype(np.uint16))
    if mode == "LA":
        return np.ascontiguousarray(array[:, :, 0])
    if mode in ("RGB", "RGBA"):
        colours = array[:, :, :3]
        if palette is None:
            raise DatasetError(
                f"{what} {path} is a colour ({mode}) image; labels must be single-channel PNGs of class ids "
                "(mode L or P). Convert it, or give the palette (dataset.yaml `palette`) so colours can be "
                "mapped")
        return decode_color_label(colours, palette, path)
    raise DatasetError(
        f"{what} {path} has PNG mode {mode}; expected a single-channel class-id image (L, P or I;16)")


def decode_color_label(colours: np.ndarray, palette: Sequence[Sequence[int]] | np.ndarray,
                       path: str | Path = "<array>") -> np.ndarray:
    """(H, W, 3) label colours -> (H, W) uint8 ids where colour == palette[id] (RGB order, else BGR order).

    Raises DatasetError naming the file and up to 10 colours that match no palette entry.
    """
    table = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    if len(table) > 256:
        raise DatasetError(f"palette for {path} has {len(table)} entries; colour labels support at most 256")
    wide = colours.astype(np.int64)
    codes = (wide[:, :, 0] << 16) | (wide[:, :, 1] << 8) | wide[:, :, 2]
    best: tuple[int, np.ndarray] | None = None
    for order in ((0, 1, 2), (2, 1, 0)):
        keys = (table[:, order[0]] << 16) | (table[:, order[1]] << 8) | table[:, order[2]]
        sorter = np.argsort(keys)
        position = np.clip(np.searchsorted(keys[sorter], codes), 0, len(keys) - 1)
        ids = sorter[position]
        matched = keys[ids] == codes
        unmatched = int((~matched).sum())
        if unmatched == 0:
            return ids.astype(np.uint8)
        if best is None or unmatched < best[0]:
            best = (unmatched, codes[~matched])
    assert best is not None
    bad = [((int(c) >> 16) & 255, (int(c) >> 8) & 255, int(c) & 255) for c in np.unique(best[1])[:10]]
    raise DatasetError(
        f"label image {path}: {best[0]} pixels have colours that are not in the palette, e.g. {bad}; "
        "use an index label image, or fix the palette")


def write_image(path: str | Path, array: np.ndarray) -> Path:
    """Writes an (H, W) or (H, W, 3|4) uint8/uint16 RGB(A) array (format from the suffix), or `.npy`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npy":
        np.save(path, array)
        return path
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[:, :, ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, [2, 1, 0, 3]]
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(array))
    if not ok:
        raise DatasetError(
            f"could not encode a {array.dtype} array of shape {array.shape} as {path.suffix} ({path})")
    encoded.tofile(path)
    return path


def write_label(path: str | Path, label: np.ndarray, palette: Sequence[Sequence[int]] | np.ndarray | None = None
                ) -> Path:
    """Writes (H, W) class ids as a PNG: mode P with a palette, else grey (L, or I;16 for uint16)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if label.dtype == np.uint16:
        Image.fromarray(label.astype(np.uint16)).save(path)
        return path
    label = np.ascontiguousarray(label.astype(np.uint8))
    if palette is None:
        image = Image.fromarray(label)
    else:
        flat = np.zeros((256, 3), dtype=np.uint8)
        given = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
        flat[: len(given)] = given
        image = Image.frombytes("P", (label.shape[1], label.shape[0]), label.tobytes())
        image.putpalette(flat.reshape(-1).tolist())
    image.save(path)
    return path
