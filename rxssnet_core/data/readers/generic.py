# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Your own folder: `rgb/`, `x/`, optional `labels/`, split lists, optional `dataset.yaml`; paired by stem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.readers.base import (
    Problems,
    Reader,
    SampleFiles,
    check_label_values,
    list_stems,
    read_split_file,
)
from rxssnet_core.data.registry import DatasetInfo
from rxssnet_core.preprocessing import MODALITIES, PreprocessConfig, PreprocessError
from rxssnet_core.visualization import voc_palette

YAML_KEYS = ("name", "class_names", "palette", "modality", "ignore_index", "preprocess", "native_size")


def _yaml_error(path: Path, message: str) -> DatasetError:
    return DatasetError(f"{path}: {message}")


def load_dataset_yaml(path: Path) -> dict[str, Any]:
    """dataset.yaml as a checked dict (unknown keys, wrong types and bad values are errors naming the key)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise _yaml_error(path, f"cannot be parsed as YAML ({error})") from error
    if not isinstance(data, dict):
        raise _yaml_error(path, f"must be a mapping with keys {list(YAML_KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(YAML_KEYS))
    if unknown:
        raise _yaml_error(path, f"unknown key(s) {unknown}; known keys: {list(YAML_KEYS)}")
    names = data.get("class_names")
    if names is not None and (not isinstance(names, list) or not names
                              or not all(isinstance(n, (str, int)) for n in names)):
        raise _yaml_error(path, "class_names must be a non-empty list of names")
    if names is not None and len(names) > 255:
        raise _yaml_error(path, f"class_names has {len(names)} entries; at most 255 (255 is the ignore id)")
    palette = data.get("palette")
    if palette is not None:
        ok = isinstance(palette, list) and all(
            isinstance(c, (list, tuple)) and len(c) == 3
            and all(isinstance(v, int) and 0 <= v <= 255 for v in c)
            for c in palette)
        if not ok:
            raise _yaml_error(path, "palette must be a list of [r, g, b] triplets with values 0..255")
        if names is not None and len(palette) != len(names):
            raise _yaml_error(
                path, f"palette has {len(palette)} colours but class_names has {len(names)} names")
    modality = data.get("modality")
    if modality is not None and modality not in MODALITIES:
        raise _yaml_error(path, f"modality {modality!r} is unknown; choose one of {MODALITIES}")
    ignore = data.get("ignore_index")
    if ignore is not None and (not isinstance(ignore, int) or not 0 <= ignore <= 65535):
        raise _yaml_error(path, f"ignore_index {ignore!r} must be an integer in 0..65535")
    if data.get("preprocess") is not None and not isinstance(data["preprocess"], dict):
        raise _yaml_error(path, "preprocess must be a mapping of PreprocessConfig keys")
    size = data.get("native_size")
    if size is not None and (not isinstance(size, list) or len(size) != 2
                             or not all(isinstance(v, int) and v > 0 for v in size)):
        raise _yaml_error(path, "native_size must be [height, width]")
    return data


class GenericReader(Reader):
    """The generic layout (see `DATASETS['generic'].layout`), also used by the synthetic fusion dataset.

    Class names come from dataset.yaml; without one, K is the largest id found in labels/ plus one. An
    `ignore_index` other than 255 is remapped to 255 on read, so samples always use 255.
    """

    def resolve_info(self, info: DatasetInfo) -> DatasetInfo:
        self.raw_ignore = 255
        yaml_path = self.root / "dataset.yaml"
        data = load_dataset_yaml(yaml_path) if yaml_path.is_file() else {}
        self.raw_ignore = int(data.get("ignore_index", 255))
        if info.class_names:  # a registered dataset that uses this layout (synthetic_fusion)
            names = data.get("class_names")
            if names is not None and [str(n) for n in names] != list(info.class_names):
                raise _yaml_error(yaml_path, f"class_names {names} differ from dataset {info.name!r}'s "
                                             f"{info.class_names}; use dataset 'generic' for other classes")
            return info
        requested = self.requested_preprocess
        modality = data.get("modality", requested.modality if requested is not None else info.modality)
        if "class_names" in data:
            names = [str(n) for n in data["class_names"]]
        else:
            names = [f"class_{i}" for i in range(self._scan_num_classes())]
        palette = data.get("palette") or voc_palette(len(names)).astype(int).tolist()
        preprocess = PreprocessConfig(modality=modality)
        if data.get("preprocess"):
            try:
                preprocess = PreprocessConfig.from_dict({"modality": modality, **data["preprocess"]})
            except (PreprocessError, TypeError) as error:
                raise _yaml_error(yaml_path, f"preprocess: {error}") from error
        if self.raw_ignore != 255 and self.raw_ignore < len(names):
            raise _yaml_error(yaml_path, f"ignore_index {self.raw_ignore} is a class id (there are "
                                         f"{len(names)} classes); choose a value >= the number of classes, "
                                         "or 255")
        size = data.get("native_size")
        return info.copy(name=str(data.get("name", "generic")), modality=modality, class_names=names,
                         palette=[list(c) for c in palette], preprocess=preprocess,
                         native_size=tuple(size) if size else None)

    def _scan_num_classes(self) -> int:
        """K = largest label id (not 255 / ignore_index) in labels/ + 1, for folders without dataset.yaml."""
        label_dir = self.root / "labels"
        largest = -1
        for path in sorted(label_dir.glob("*.png")) if label_dir.is_dir() else []:
            values = np.unique(io.read_label(path))
            values = values[(values != 255) & (values != self.raw_ignore)]
            if values.size:
                largest = max(largest, int(values.max()))
        if largest < 0:
            raise DatasetError(
                f"{self.root} has no dataset.yaml and no labelled pixels in {label_dir}, so the number of "
                f"classes is unknown; write {self.root / 'dataset.yaml'} with `class_names: [...]`")
        return largest + 1

    def _split_file(self) -> Path | None:
        for candidate in (self.root / "splits" / f"{self.split}.txt", self.root / f"{self.split}.txt"):
            if candidate.is_file():
                return candidate
        return None

    def split_source(self) -> str:
        path = self._split_file()
        return str(path) if path else f"{self.root / 'rgb'} (split 'all')"

    def find_samples(self) -> list[SampleFiles]:
        folders = {"RGB": self.root / "rgb", "X": self.root / "x", "label": self.root / "labels"}
        self.require_folders(folders["RGB"], folders["X"])
        labelled = folders["label"].is_dir()
        problems = Problems()
        found = {
            "RGB": list_stems(folders["RGB"], io.IMAGE_EXTENSIONS, problems),
            "X": list_stems(folders["X"], io.X_EXTENSIONS, problems),
        }
        if labelled:
            found["label"] = list_stems(folders["label"], io.LABEL_EXTENSIONS, problems)
            others = list_stems(folders["label"], io.IMAGE_EXTENSIONS, Problems())
            for stem in sorted(set(others) - set(found["label"])):
                problems.add(
                    f"{stem}: label {others[stem]} is not a PNG; labels must be lossless PNG class-id images")
        split_file = self._split_file()
        if split_file is not None:
            stems = read_split_file(split_file)
            origin = f"listed in {split_file.name}"
        elif self.split == "all":
            stems = sorted(set().union(*found.values()))
            origin = "present"
        else:
            raise DatasetError(
                f"no split file for split {self.split!r}: expected "
                f"{self.root / 'splits' / (self.split + '.txt')} or {self.root / (self.split + '.txt')} (one "
                "stem per line). Split files found: "
                f"{self.available_split_files(self.root, self.root / 'splits') or 'none'}; split 'all' uses "
                "every stem")
        samples = []
        for stem in stems:
            missing = [key for key in found if stem not in found[key]]
            for key in missing:
                problems.add(f"{stem}: {origin} but no {key} file {folders[key] / stem}.*")
            if not missing:
                label = found["label"][stem] if labelled else None
                samples.append(SampleFiles(stem, found["RGB"][stem], (found["X"][stem],), label))
        problems.raise_if_any(f"dataset at {self.root}, split {self.split!r}, has missing files",
                              footer=f"Expected layout:\n{self.info.layout}")
        return samples

    def read_label(self, sample: SampleFiles) -> np.ndarray | None:
        if sample.label is None:
            return None
        label = io.read_label(sample.label, palette=self.info.palette or None)
        if self.raw_ignore != 255:
            label = np.where(label == self.raw_ignore, 255, label).astype(label.dtype)
        check_label_values(label, self.info.num_classes, sample.label)
        return label

