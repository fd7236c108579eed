# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Cityscapes as downloaded: leftImg8bit + disparity + gtFine labelIds in `<type>/<split>/<city>/`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.readers.base import Problems, Reader, SampleFiles, check_label_values, require_x_dtype

# labelId -> trainId (cityscapesScripts helpers/labels.py); every id not listed is ignored (255).
LABEL_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                     25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
NUM_LABEL_IDS = 34


def label_ids_to_train_ids(label_ids: np.ndarray, path: Path | str = "<array>") -> np.ndarray:
    """(H, W) Cityscapes labelIds (0..33) -> (H, W) uint8 trainIds (0..18, 255 ignore)."""
    bad = label_ids >= NUM_LABEL_IDS
    if bad.any():
        values = ", ".join(str(int(v)) for v in np.unique(label_ids[bad])[:20])
        raise DatasetError(f"Cityscapes label image {path} has label id(s) {values} outside 0..33; "
                           "expected a *_gtFine_labelIds.png file")
    lut = np.full(256, 255, dtype=np.uint8)
    for label_id, train_id in LABEL_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut[label_ids.astype(np.intp)]


class CityscapesReader(Reader):
    """Stems `<city>_<seq>_<frame>` from leftImg8bit/<split>/*/; without gtFine/<split>/ it is unlabelled."""

    def split_source(self) -> str:
        return str(self.root / "leftImg8bit" / self.split)

    def _files(self, kind: str, suffix: str) -> dict[str, Path]:
        found: dict[str, Path] = {}
        folder = self.root / kind / self.split
        for path in sorted(folder.glob(f"*/*{suffix}")):
            found[path.name[: -len(suffix)]] = path
        return found

    def find_samples(self) -> list[SampleFiles]:
        rgb_dir, disparity_dir = self.root / "leftImg8bit" / self.split, self.root / "disparity" / self.split
        if not rgb_dir.is_dir() and (self.root / "leftImg8bit").is_dir():
            present = sorted(p.name for p in (self.root / "leftImg8bit").iterdir() if p.is_dir())
            raise DatasetError(
                f"Cityscapes has no split {self.split!r}: {rgb_dir} not found; splits: {present}")
        self.require_folders(rgb_dir, disparity_dir)
        problems = Problems()
        rgb = self._files("leftImg8bit", "_leftImg8bit.png")
        disparity = self._files("disparity", "_disparity.png")
        gt_dir = self.root / "gtFine" / self.split
        labelled = gt_dir.is_dir()
        labels = self._files("gtFine", "_gtFine_labelIds.png") if labelled else {}
        train_ids = self._files("gtFine", "_gtFine_labelTrainIds.png") if labelled else {}
        stems = sorted(set(rgb) | set(disparity) | (set(labels) | set(train_ids)))
        samples = []
        for stem in stems:
            city = stem.split("_")[0]
            if stem not in rgb:
                problems.add(f"{stem}: no {rgb_dir / city / (stem + '_leftImg8bit.png')}")
            if stem not in disparity:
                problems.add(f"{stem}: no {disparity_dir / city / (stem + '_disparity.png')}")
            label = labels.get(stem) or train_ids.get(stem)
            if labelled and label is None:
                problems.add(f"{stem}: no {gt_dir / city / (stem + '_gtFine_labelIds.png')}")
            if stem in rgb and stem in disparity:
                samples.append(SampleFiles(stem, rgb[stem], (disparity[stem],), label))
        problems.raise_if_any(f"Cityscapes split {self.split!r} at {self.root} has unpaired files")
        return samples

    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        disparity = io.read_x(sample.x[0], "Cityscapes disparity image")
        require_x_dtype(disparity, (np.uint16,), sample.x[0],
                        "Cityscapes disparity PNGs are 16-bit, 256*d+1; was the file re-saved as 8-bit?")
        if disparity.ndim != 2:
            raise DatasetError(f"Cityscapes disparity image {sample.x[0]} has {disparity.shape[2]} channels; "
                               "expected one 16-bit channel")
        return io.read_rgb(sample.rgb, "Cityscapes leftImg8bit image"), disparity

    def read_label(self, sample: SampleFiles) -> np.ndarray | None:
        if sample.label is None:
            return None
        raw = io.read_label(sample.label, what="Cityscapes label image")
        if sample.label.name.endswith("_gtFine_labelTrainIds.png"):
            check_label_values(raw, self.info.num_classes, sample.label)
            return raw
        return label_ids_to_train_ids(raw, sample.label)
