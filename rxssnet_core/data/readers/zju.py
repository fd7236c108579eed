# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ZJU-RGB-P as unpacked: `<split>/{0,45,90,135}/<stem>_<angle>.png` and `<split>/label/<stem>.png`."""

from __future__ import annotations

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.readers.base import (
    Problems,
    Reader,
    SampleFiles,
    check_label_values,
    collect,
    drop_void_zero,
    list_stems,
)
from rxssnet_core.preprocessing import PreprocessError, polarization_from_angles
from rxssnet_core.visualization import voc_palette

ANGLES = ("0", "45", "90", "135")
NUM_RAW_IDS = 9  # 0 = background (ignored), 1..8 = classes


class ZJURGBPReader(Reader):
    """RGB is the 0-degree image; X is AoLP or DoLP (preprocess.polarization_channel) from the 4 angle images.

    Monochromatic (default): Stokes parameters of the grey images, X is (H, W) float32. Option
    trichromatic=True: per colour channel, X is (H, W, 3). Labels may be P-mode, grey, or VOC colours in
    either channel order.
    """

    OPTIONS = {"trichromatic": (False, True)}  # noqa: RUF012 - class constant, never mutated

    def split_source(self) -> str:
        return str(self.root / self.split / "0")

    def find_samples(self) -> list[SampleFiles]:
        split_dir = self.root / self.split
        if not split_dir.is_dir():
            raise DatasetError(
                f"ZJU-RGB-P has no split {self.split!r}: {split_dir} not found; splits found: "
                f"{self.available_split_folders('0') or 'none'}. Expected layout:\n{self.info.layout}")
        label_dir = next((d for d in (split_dir / "label", split_dir / f"{self.split}_label") if d.is_dir()),
                         split_dir / "label")
        folders = {angle: split_dir / angle for angle in ANGLES}
        self.require_folders(*folders.values(), label_dir)
        problems = Problems()
        found = {angle: list_stems(folder, (".png",), problems, suffix=f"_{angle}")
                 for angle, folder in folders.items()}
        found["label"] = list_stems(label_dir, (".png",), problems)
        stems = sorted(set().union(*found.values()))
        collect(stems, found, problems, {**folders, "label": label_dir})
        problems.raise_if_any(f"ZJU-RGB-P split {self.split!r} at {split_dir} has unpaired files")
        return [SampleFiles(s, found["0"][s], tuple(found[a][s] for a in ANGLES), found["label"][s])
                for s in stems]

    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        images = [io.read_rgb(path, f"ZJU-RGB-P {angle}-degree image")
                  for angle, path in zip(ANGLES, sample.x)]
        if self.options.get("trichromatic", False):
            channels = list(zip(*(np.moveaxis(im, 2, 0) for im in images)))
        else:
            channels = [tuple(io.to_gray(im) for im in images)]
        try:
            pairs = [polarization_from_angles(*c) for c in channels]
        except PreprocessError as error:
            raise DatasetError(f"ZJU-RGB-P sample {sample.stem} ({sample.names()}): {error}") from error
        index = 0 if self.preprocess.polarization_channel == "aolp" else 1
        x = np.stack([p[index] for p in pairs], axis=2) if len(pairs) == 3 else pairs[0][index]
        return images[0], np.ascontiguousarray(x, dtype=np.float32)

    def read_label(self, sample: SampleFiles) -> np.ndarray | None:
        assert sample.label is not None
        raw = io.read_label(sample.label, palette=voc_palette(NUM_RAW_IDS), what="ZJU-RGB-P label image")
        check_label_values(raw, NUM_RAW_IDS, sample.label,
                           note=" (raw ZJU-RGB-P ids are 0 = background, 1..8)")
        return drop_void_zero(raw, NUM_RAW_IDS - 1)
