# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What every dataset reader shares: a split's file index, problem collection, stem listing, label checks."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.io import DatasetError
from rxssnet_core.data.registry import DatasetInfo
from rxssnet_core.preprocessing import PreprocessConfig

# A listed problem cap keeps a 10k-file mess readable; the total is always reported.
MAX_LISTED_PROBLEMS = 500


@dataclass(frozen=True)
class SampleFiles:
    """The files of one sample: RGB, X (one file, or four polarizer-angle images), label (None: no label)."""

    stem: str
    rgb: Path
    x: tuple[Path, ...]
    label: Path | None

    def names(self) -> str:
        parts = [str(self.rgb), *(str(p) for p in self.x)]
        if self.label is not None:
            parts.append(str(self.label))
        return ", ".join(dict.fromkeys(parts))


class Problems:
    """Collects every problem found while indexing, then raises one DatasetError that lists them all."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, header: str, footer: str = "") -> None:
        if not self.items:
            return
        listed = self.items[:MAX_LISTED_PROBLEMS]
        more = len(self.items) - len(listed)
        count = len(self.items)
        text = f"{header} ({count} problem{'s' if count != 1 else ''}):\n  " + "\n  ".join(listed)
        if more:
            text += f"\n  ... and {more} more"
        if footer:
            text += "\n" + footer
        raise DatasetError(text)


def list_stems(folder: Path, extensions: Sequence[str], problems: Problems,
               suffix: str = "") -> dict[str, Path]:
    """{stem: path} of the files in `folder` whose name ends with `suffix` + one of `extensions`.

    The stem is the name without `suffix` and extension. Two files giving one stem are reported as a problem.
    """
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    extensions = tuple(e.lower() for e in extensions)
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        ext = path.suffix.lower()
        if ext not in extensions:
            continue
        stem = path.name[: -len(path.suffix)]
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[: -len(suffix)]
        if stem in found:
            problems.add(f"ambiguous files for stem {stem!r}: {found[stem].name} and {path.name} in {folder}")
            continue
        found[stem] = path
    return found


def read_split_file(path: Path, parse_line: Callable[[str], str | None] | None = None) -> list[str]:
    """Stems listed in a split file, one per line (blanks and `#` comments skipped), sorted, de-duplicated.

    `parse_line` turns a line into a stem (default: the first token, without folders and extension).
    """
    parse = parse_line or stem_from_line
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"split file {path} cannot be read as UTF-8 text ({error})") from error
    stems: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        stem = parse(line)
        if not stem:
            continue
        if stem in seen:
            duplicates.append(stem)
            continue
        seen.add(stem)
        stems.append(stem)
    if duplicates:
        warnings.warn(
            f"split file {path} lists {len(duplicates)} stem(s) twice (used once): {duplicates[:10]}",
            stacklevel=2)
    return sorted(stems)


def stem_from_line(line: str) -> str:
    """`2`, `RGB/2.jpg` and `RGB/2.jpg<TAB>Label/2.png` all give `2`."""
    token = line.split()[0].replace("\\", "/")
    name = token.rsplit("/", 1)[-1]
    lowered = name.lower()
    for ext in (*io.X_EXTENSIONS, ".jpg"):
        if lowered.endswith(ext):
            return name[: -len(ext)]
    return name


def check_label_values(label: np.ndarray, num_classes: int, path: Path | str, note: str = "") -> None:
    """DatasetError naming the file and the values when any label is outside [0, num_classes) and not 255."""
    bad = (label >= num_classes) & (label != 255)
    if bad.any():
        values = np.unique(label[bad])
        shown = ", ".join(str(int(v)) for v in values[:20]) + (" ..." if len(values) > 20 else "")
        raise DatasetError(
            f"label image {path} has value(s) {shown} outside the {num_classes} classes "
            f"[0, {num_classes - 1}] (255 = ignore){note}; fix the labels or the dataset's class list")


class Reader:
    """Indexes one split of one dataset and decodes its files to raw arrays.

    Subclasses implement `find_samples` (collect every problem, then raise once) and may override
    `read_pair` / `read_label`. `options` are reader-specific switches named in `OPTIONS` ({name: allowed}).
    `preprocess` None means the dataset's default (`self.preprocess` is the one in use).
    """

    OPTIONS: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(self, root: str | Path, split: str, info: DatasetInfo,
                 preprocess: PreprocessConfig | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.root = Path(root).expanduser()
        self.split = str(split)
        self.requested_preprocess = preprocess
        self.options = self._check_options(info, dict(options or {}))
        self.info = info
        if not self.root.is_dir():
            raise DatasetError(
                f"dataset root {self.root} does not exist or is not a folder; {info.name} expects:\n"
                f"{info.layout}")
        self.info = self.resolve_info(info)
        self.preprocess: PreprocessConfig = preprocess if preprocess is not None else self.info.preprocess
        self.samples: list[SampleFiles] = sorted(self.find_samples(), key=lambda s: s.stem)
        if not self.samples:
            raise DatasetError(
                f"{info.name} split {self.split!r} is empty: {self.split_source()} lists no samples")

    def _check_options(self, info: DatasetInfo, options: dict[str, Any]) -> dict[str, Any]:
        for key, value in options.items():
            if key not in self.OPTIONS:
                known = ", ".join(self.OPTIONS) or "none"
                raise DatasetError(f"dataset {info.name!r} has no option {key!r}; its options: {known}")
            if value not in self.OPTIONS[key]:
                raise DatasetError(
                    f"dataset {info.name!r}: option {key}={value!r} must be one of {list(self.OPTIONS[key])}")
        return options

    # --- indexing -------------------------------------------------------------------------------------------
    def resolve_info(self, info: DatasetInfo) -> DatasetInfo:
        """The DatasetInfo for this root (the generic reader reads dataset.yaml here)."""
        return info

    def find_samples(self) -> list[SampleFiles]:
        raise NotImplementedError

    def split_source(self) -> str:
        """Where this split's sample list comes from (a split file or a folder), for messages."""
        return str(self.root / self.split)

    def require_folders(self, *folders: Path) -> None:
        """DatasetError naming every missing folder, with the expected layout and a hint if it is nested."""
        missing = [f for f in folders if not f.is_dir()]
        if not missing:
            return
        hint = ""
        relative = [f.relative_to(self.root) for f in folders]
        # A common mistake is passing the folder above the dataset (e.g. MFNet/ instead of ir_seg_dataset/).
        for child in _subfolders(self.root):
            inner = next((d for d in [child, *_subfolders(child)] if all((d / r).is_dir() for r in relative)),
                         None)
            if inner is not None:
                hint = f"\nThe layout was found under {inner}: pass that folder as the root."
                break
        names = ", ".join(str(m) for m in missing)
        raise DatasetError(
            f"{self.info.name}: folder(s) {names} not found under root {self.root}. Expected layout:\n"
            f"{self.info.layout}{hint}")

    def available_split_files(self, *folders: Path) -> list[str]:
        names: set[str] = set()
        for folder in folders:
            if folder.is_dir():
                names.update(p.stem for p in folder.glob("*.txt"))
        return sorted(names)

    def available_split_folders(self, marker: str) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / marker).is_dir())

    # --- decoding -------------------------------------------------------------------------------------------
    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        """(RGB (H, W, 3) uint8 in RGB order, raw X) of one sample."""
        return io.read_rgb(sample.rgb), io.read_x(sample.x[0])

    def read_label(self, sample: SampleFiles) -> np.ndarray | None:
        """(H, W) uint8/uint16 class ids, 255 = ignore (dataset mapping applied); None when unlabelled."""
        if sample.label is None:
            return None
        label = io.read_label(sample.label)
        check_label_values(label, self.info.num_classes, sample.label)
        return label


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []


def collect(stems: Iterable[str], folders: Mapping[str, dict[str, Path]], problems: Problems,
            describe: Mapping[str, Path]) -> None:
    """Adds a problem for every (stem, folder) whose file is missing; `describe` maps folder key -> path."""
    for stem in stems:
        for key, found in folders.items():
            if stem not in found:
                problems.add(f"{stem}: no {key} file in {describe[key]}")


def require_x_dtype(array: np.ndarray, allowed: Sequence[type], path: Path, why: str) -> np.ndarray:
    if array.dtype not in tuple(np.dtype(a) for a in allowed):
        names = " or ".join(np.dtype(a).name for a in allowed)
        raise DatasetError(f"X image {path} is {array.dtype}; {names} is required ({why})")
    return array


class FolderSplitReader(Reader):
    """Datasets whose split is a folder `<root>/<split>/` with one sub-folder per modality, same stems.

    Stems are the union over the RGB, X and label folders (sorted), so a file present in one folder and
    missing in another is reported by name instead of silently dropped.
    """

    RGB_DIR = "rgb"
    X_DIR = "x"
    LABEL_DIR = "labels"
    EXTENSIONS: tuple[str, ...] = (".png",)

    def x_dir(self) -> str:
        return self.X_DIR

    def split_source(self) -> str:
        return str(self.root / self.split / self.RGB_DIR)

    def find_samples(self) -> list[SampleFiles]:
        split_dir = self.root / self.split
        if not split_dir.is_dir():
            present = self.available_split_folders(self.RGB_DIR)
            raise DatasetError(
                f"{self.info.name} has no split {self.split!r}: folder {split_dir} not found; splits found "
                f"under {self.root}: {present or 'none'} (the recipe trains on {self.info.train_split!r}). "
                f"Expected layout:\n{self.info.layout}")
        folders = {"RGB": split_dir / self.RGB_DIR, "X": split_dir / self.x_dir(),
                   "label": split_dir / self.LABEL_DIR}
        self.require_folders(*folders.values())
        problems = Problems()
        found = {key: list_stems(folder, self.EXTENSIONS, problems) for key, folder in folders.items()}
        stems = sorted(set().union(*found.values()))
        collect(stems, found, problems, folders)
        problems.raise_if_any(f"{self.info.name} split {self.split!r} at {split_dir} has unpaired files")
        return [SampleFiles(s, found["RGB"][s], (found["X"][s],), found["label"][s]) for s in stems]


def drop_void_zero(raw: np.ndarray, num_classes: int) -> np.ndarray:
    """Raw ids where 0 is void (checked by the caller: 0..num_classes or 255): 0 -> 255, k -> k - 1."""
    lut = np.full(256, 255, dtype=np.uint8)
    lut[1 : num_classes + 1] = np.arange(num_classes, dtype=np.uint8)
    return lut[raw.astype(np.intp)]
