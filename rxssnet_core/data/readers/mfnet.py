# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""MFNet as downloaded: `images/<name>.png` RGBA (thermal in alpha), `labels/<name>.png`, `<split>.txt`."""

from __future__ import annotations

import warnings

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.readers.base import Problems, Reader, SampleFiles, list_stems, read_split_file


class MFNetReader(Reader):
    """One RGBA PNG per frame: channels R, G, B are the visible image and A is the 8-bit thermal image."""

    def split_source(self) -> str:
        return str(self.root / f"{self.split}.txt")

    def find_samples(self) -> list[SampleFiles]:
        images_dir, labels_dir = self.root / "images", self.root / "labels"
        self.require_folders(images_dir, labels_dir)
        split_file = self.root / f"{self.split}.txt"
        if not split_file.is_file():
            raise DatasetError(
                f"MFNet split file {split_file} not found; split files here: "
                f"{self.available_split_files(self.root) or 'none'}. Expected layout:\n{self.info.layout}")
        problems = Problems()
        images = list_stems(images_dir, (".png",), problems)
        labels = list_stems(labels_dir, (".png",), problems)
        samples, skipped = [], []
        for stem in read_split_file(split_file):
            if stem not in images and "flip" in stem:
                # Some train.txt copies list offline-flipped frames that the zip does not contain.
                skipped.append(stem)
                continue
            if stem not in images:
                problems.add(f"{stem}: listed in {split_file.name} but {images_dir / stem}.png is missing")
            if stem not in labels:
                problems.add(f"{stem}: listed in {split_file.name} but {labels_dir / stem}.png is missing")
            if stem in images and stem in labels:
                samples.append(SampleFiles(stem, images[stem], (images[stem],), labels[stem]))
        if skipped:
            warnings.warn(f"{split_file}: skipped {len(skipped)} 'flip' entries without image files "
                          f"(flipping is done at run time), e.g. {skipped[:3]}", stacklevel=2)
        problems.raise_if_any(f"MFNet split {self.split!r} at {self.root} has missing files")
        return samples

    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        rgba = io.read_array(sample.rgb, "MFNet image")
        if rgba.dtype != np.uint8:
            raise DatasetError(f"MFNet image {sample.rgb} is {rgba.dtype}; the native images are 8-bit RGBA")
        if rgba.ndim != 3 or rgba.shape[2] != 4:
            channels = 1 if rgba.ndim == 2 else rgba.shape[2]
            raise DatasetError(
                f"MFNet image {sample.rgb} has {channels} channel(s); the native MFNet PNG is RGBA with the "
                "thermal image in the alpha channel. For re-packed copies (separate RGB and thermal "
                "files) use the 'generic' dataset layout")
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])

