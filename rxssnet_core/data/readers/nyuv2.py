# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""NYU Depth V2 re-packs (SA-Gate/CMX, DFormer): `RGB/`, `HHA/` or `Depth/`, `Label/`, split txt files."""

from __future__ import annotations

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.readers.base import (
    Problems,
    Reader,
    SampleFiles,
    check_label_values,
    drop_void_zero,
    list_stems,
    read_split_file,
    require_x_dtype,
)

NUM_RAW_IDS = 41  # 0 = void, 1..40 = classes


def nyu_raw_to_train(raw: np.ndarray) -> np.ndarray:
    """Raw NYUv2 ids (0..40, checked by the caller) -> training ids: 0 (void) -> 255, k -> k - 1 (CMX)."""
    return drop_void_zero(raw, NUM_RAW_IDS - 1)


class NYUv2Reader(Reader):
    """X is `HHA/` for modality hha (dataset nyuv2) and `Depth/` for modality depth (dataset nyuv2_depth).

    Split lines may be `<n>`, `RGB/<n>.jpg` or `RGB/<n>.jpg<TAB>Label/<n>.png`; depth prefers `.npy` (metres).
    """

    def split_source(self) -> str:
        return str(self.root / f"{self.split}.txt")

    def find_samples(self) -> list[SampleFiles]:
        x_name = "HHA" if self.info.modality == "hha" else "Depth"
        folders = {"RGB": self.root / "RGB", "X": self.root / x_name, "label": self.root / "Label"}
        self.require_folders(*folders.values())
        split_file = self.root / f"{self.split}.txt"
        if not split_file.is_file():
            raise DatasetError(
                f"NYUv2 split file {split_file} not found; split files here: "
                f"{self.available_split_files(self.root) or 'none'}. Expected layout:\n{self.info.layout}")
        problems = Problems()
        rgb = list_stems(folders["RGB"], (".jpg", ".jpeg", ".png"), problems)
        labels = list_stems(folders["label"], (".png",), problems)
        if x_name == "HHA":
            xs = list_stems(folders["X"], (".jpg", ".jpeg", ".png"), problems)
        else:
            # Both flavours may sit side by side; the metric .npy wins over an 8-bit rendering.
            xs = {**list_stems(folders["X"], (".png",), Problems()),
                  **list_stems(folders["X"], (".npy",), problems)}
        samples = []
        for stem in read_split_file(split_file):
            missing = [key for key, found in (("RGB", rgb), ("X", xs), ("label", labels))
                       if stem not in found]
            for key in missing:
                problems.add(f"{stem}: listed in {split_file.name} but no {key} file {folders[key] / stem}.*")
            if not missing:
                samples.append(SampleFiles(stem, rgb[stem], (xs[stem],), labels[stem]))
        problems.raise_if_any(f"NYUv2 split {self.split!r} at {self.root} has missing files")
        return samples

    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        path = sample.x[0]
        x = io.read_x(path, "NYUv2 HHA image" if self.info.modality == "hha" else "NYUv2 depth file")
        if self.info.modality == "hha":
            require_x_dtype(x, (np.uint8,), path, "HHA images are 8-bit, 3 channels")
            if x.ndim != 3:
                raise DatasetError(
                    f"NYUv2 HHA image {path} has 1 channel; HHA has 3 (disparity, height, angle)")
        else:
            if path.suffix.lower() == ".npy":
                require_x_dtype(x, (np.float32,), path, ".npy depth is float metres")
            if x.ndim == 3:
                x = np.ascontiguousarray(x[:, :, 0])  # DFormer's renderings store R = G = B
        return io.read_rgb(sample.rgb, "NYUv2 RGB image"), x

    def read_label(self, sample: SampleFiles) -> np.ndarray | None:
        assert sample.label is not None
        raw = io.read_label(sample.label, what="NYUv2 label image")
        check_label_values(raw, NUM_RAW_IDS, sample.label, note=" (raw NYUv2 ids are 0 = void, 1..40)")
        return nyu_raw_to_train(raw)
