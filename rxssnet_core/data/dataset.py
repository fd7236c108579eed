# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`build_dataset(name, root, split)`: a torch Dataset of preprocessed RGB-X samples of any dataset."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rxssnet_core.data.augmentation import AugmentConfig, augment
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.readers import READERS, Reader, SampleFiles
from rxssnet_core.data.readers.base import Problems, check_label_values
from rxssnet_core.data.registry import DatasetInfo, canonical_name, get_info
from rxssnet_core.preprocessing import PreprocessConfig, PreprocessError, preprocess_pair

IGNORE = 255


@dataclass
class RawSample:
    """One sample as stored, after decoding.

    rgb (H, W, 3) uint8 in RGB order; x (H, W) or (H, W, C) uint8/uint16/float32; label (H, W) uint8/uint16
    class ids with 255 = ignore, or None for an unlabelled split.
    """

    stem: str
    rgb: np.ndarray
    x: np.ndarray
    label: np.ndarray | None
    files: SampleFiles | None = None


class RGBXDataset(torch.utils.data.Dataset):
    """Map-style dataset of preprocessed samples.

    `ds[i]` -> {"rgb": (3, H, W) float32, "x": (C, H, W) float32, "label": (H, W) int64, "stem": str},
    preprocessed with `ds.preprocess` and, when `augment` is set, randomly flipped, scaled and cropped.

    The augmentation's random state comes from torch's generator, so DataLoader workers differ and
    `torch.manual_seed` makes a run repeatable.
    """

    def __init__(self, reader: Reader, preprocess: PreprocessConfig,
                 augment: AugmentConfig | None = None) -> None:
        self.reader = reader
        self.info: DatasetInfo = reader.info
        self.preprocess = preprocess
        self.augment = augment
        self.samples: list[SampleFiles] = list(reader.samples)

    @property
    def stems(self) -> list[str]:
        return [s.stem for s in self.samples]

    @property
    def root(self) -> Path:
        return self.reader.root

    @property
    def split(self) -> str:
        return self.reader.split

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        return (f"RGBXDataset({self.info.name!r}, root={str(self.root)!r}, split={self.split!r}, "
                f"samples={len(self)}, modality={self.preprocess.modality!r}, augment={self.augment})")

    def read_raw(self, index: int) -> RawSample:
        """Decodes sample `index` and checks it: sizes agree, label ids are in [0, K) or 255."""
        files = self.samples[index]
        rgb, x = self.reader.read_pair(files)
        label = self.reader.read_label(files)
        sizes = {"RGB": (files.rgb, rgb.shape[:2]), "X": (files.x[0], x.shape[:2])}
        if label is not None:
            sizes["label"] = (files.label, label.shape[:2])
            if label.ndim != 2:
                raise DatasetError(f"label image {files.label} has shape {label.shape}; expected (H, W)")
            check_label_values(label, self.info.num_classes, files.label)
        if len({shape for _, shape in sizes.values()}) != 1:
            listed = "; ".join(f"{kind} {path} is {shape[1]}x{shape[0]}"
                               for kind, (path, shape) in sizes.items())
            raise DatasetError(f"sample {files.stem}: image sizes differ (WxH): {listed}. RGB, X and label "
                               "must be pixel-aligned and the same size")
        return RawSample(files.stem, rgb, x, label, files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        raw = self.read_raw(index)
        try:
            rgb, x = preprocess_pair(raw.rgb, raw.x, self.preprocess)
        except PreprocessError as error:
            assert raw.files is not None
            raise DatasetError(f"sample {raw.stem} ({raw.files.names()}): {error}") from error
        label = raw.label if raw.label is not None else np.full(raw.rgb.shape[:2], IGNORE, dtype=np.uint8)
        if self.augment is not None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
            rgb, x, label = augment(rgb, x, label, self.augment, np.random.default_rng(seed))
        return {
            "rgb": torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)),
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "label": torch.from_numpy(label.astype(np.int64)),
            "stem": raw.stem,
        }

    def validate(self, progress: bool = True) -> None:
        """Reads every sample; raises one DatasetError listing every bad file (sizes, bit depths, label ids,
        unreadable files). Call it before a long training run; it costs one full pass over the files.
        """
        problems = Problems()
        for index in tqdm(range(len(self)), desc=f"checking {self.info.name}/{self.split}", unit="sample",
                          disable=not progress, leave=False):
            try:
                raw = self.read_raw(index)
                preprocess_pair(raw.rgb, raw.x, self.preprocess)
            except (DatasetError, PreprocessError) as error:
                problems.add(str(error))
        problems.raise_if_any(f"{self.info.name} split {self.split!r} at {self.root} has bad samples")


def build_dataset(name: str, root: str | Path, split: str,
                  preprocess: PreprocessConfig | Mapping[str, Any] | None = None,
                  augment: AugmentConfig | None = None, *,
                  options: Mapping[str, Any] | None = None) -> RGBXDataset:
    """The `split` of dataset `name` (a registry key or alias) stored at `root`, in its native layout.

    preprocess None uses the registry default (for 'generic', dataset.yaml's). Every missing or unpaired file
    is reported, by name, in one DatasetError here, before any training starts. `options` are reader switches
    (PST900: thermal="raw"; ZJU-RGB-P: trichromatic=True).
    """
    key = canonical_name(name)
    info = get_info(key)
    if isinstance(preprocess, Mapping):
        preprocess = PreprocessConfig.from_dict(dict(preprocess))
    if preprocess is not None and not isinstance(preprocess, PreprocessConfig):
        raise DatasetError(
            f"preprocess must be a PreprocessConfig, a dict or None, got {type(preprocess).__name__}")
    if augment is not None and not isinstance(augment, AugmentConfig):
        raise DatasetError(f"augment must be an AugmentConfig or None, got {type(augment).__name__}")
    reader = READERS[info.reader](root, split, info, preprocess, options)
    used = reader.preprocess
    if used.modality != reader.info.modality:
        raise DatasetError(
            f"preprocess.modality={used.modality!r} does not match dataset {reader.info.name!r}, whose X is "
            f"{reader.info.modality!r}; use the dataset's default (preprocess=None) or modality "
            f"{reader.info.modality!r}")
    return RGBXDataset(reader, dataclasses.replace(used), augment)
