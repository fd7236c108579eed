# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one table of supported datasets: classes, palettes, modality, layout and default preprocessing.

Everything a reader, the trainer, the evaluator or `rxssnet datasets` needs to know about a dataset lives
in its `DatasetInfo` here. Light on purpose (no torch, no OpenCV): the CLI lists datasets without either.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from rxssnet_core.data.io import DatasetError
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_core.visualization import voc_palette

IGNORE_INDEX = 255


@dataclass
class DatasetInfo:
    """What defines a dataset. `palette[i]` is the RGB colour of class i; labels use 255 for "ignore".

    native_size: (H, W) of the files as downloaded (None when it varies). splits: the split names the
    download provides. train_split / val_split: what the recipe trains and selects models on (val_split None:
    the dataset has no validation split, so training holds out part of train; never the test split). crop_size: the
    recipe's training crop (H, W). reader: which reader in `rxssnet_core.data.readers` parses the layout.
    layout: the expected folder tree, shown by `rxssnet datasets NAME` and in "file not found" errors.
    """

    name: str
    title: str
    modality: str
    class_names: list[str]
    palette: list[list[int]]
    native_size: tuple[int, int] | None
    splits: tuple[str, ...]
    layout: str
    preprocess: PreprocessConfig
    reader: str
    train_split: str = "train"
    val_split: str | None = "val"
    crop_size: tuple[int, int] = (480, 640)
    ignore_index: int = IGNORE_INDEX
    x_description: str = ""
    label_description: str = ""
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.palette) != len(self.class_names):
            raise DatasetError(
                f"dataset {self.name!r}: {len(self.class_names)} class names but {len(self.palette)} "
                "palette colours")
        if self.preprocess.modality != self.modality:
            raise DatasetError(
                f"dataset {self.name!r}: modality {self.modality!r} but default preprocess modality "
                f"{self.preprocess.modality!r}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def copy(self, **changes: Any) -> DatasetInfo:
        """A deep-enough copy (own lists and PreprocessConfig) with `changes` applied."""
        base = {
            "class_names": list(self.class_names),
            "palette": [list(c) for c in self.palette],
            "preprocess": dataclasses.replace(self.preprocess),
        }
        base.update(changes)
        return dataclasses.replace(self, **base)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (what `rxssnet datasets --json` prints)."""
        return {
            "name": self.name,
            "title": self.title,
            "modality": self.modality,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "palette": [list(c) for c in self.palette],
            "ignore_index": self.ignore_index,
            "native_size": list(self.native_size) if self.native_size else None,
            "splits": list(self.splits),
            "train_split": self.train_split,
            "val_split": self.val_split,
            "crop_size": list(self.crop_size),
            "preprocess": self.preprocess.to_dict(),
            "x": self.x_description,
            "labels": self.label_description,
            "layout": self.layout,
            "notes": self.notes,
            "aliases": list(self.aliases),
        }


def _voc_shifted(num_classes: int) -> list[list[int]]:
    # Datasets whose raw label 0 is "void" (NYUv2, ZJU) are drawn with the VOC colour of the raw id, so
    # trained class c (raw c + 1) takes VOC colour c + 1 (SA-Gate's ColoredLabel, CMX's get_class_colors).
    return voc_palette(num_classes + 1)[1:].astype(int).tolist()


_MFNET = DatasetInfo(
    name="mfnet",
    title="MFNet (Ha et al., IROS 2017): RGB-thermal urban driving, day and night",
    modality="thermal",
    class_names=["unlabeled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone",
                 "bump"],
    palette=[[0, 0, 0], [64, 0, 128], [64, 64, 0], [0, 128, 192], [0, 0, 192], [128, 128, 0], [64, 64, 128],
             [192, 128, 128], [192, 64, 0]],
    native_size=(480, 640),
    splits=("train", "val", "test", "test_day", "test_night"),
    train_split="train",
    val_split="val",
    layout="""\
<root>/                       (the official `ir_seg_dataset` folder)
  images/<name>.png           640x480 RGBA, 8-bit: R,G,B = visible, A = thermal
  labels/<name>.png           640x480, 8-bit class ids 0..8 (0 "unlabeled" is a class)
  train.txt val.txt test.txt  one name per line, no extension (test_day.txt / test_night.txt if present)""",
    preprocess=PreprocessConfig(modality="thermal"),
    reader="mfnet",
    x_description="thermal = alpha channel of the RGBA image, 8-bit",
    label_description="uint8 ids 0..8, used as is (no ignore value in the files)",
    notes="Split entries containing 'flip' whose files are missing are skipped (flipping happens at run "
          "time). The RXSSNet author selected models on 'test' (spec section 2); we select on MFNet's own val split.",
)

_PST900 = DatasetInfo(
    name="pst900",
    title="PST900 (Shivakumar et al., ICRA 2020): RGB-thermal subterranean, DARPA SubT artefacts",
    modality="thermal",
    class_names=["background", "fire_extinguisher", "backpack", "hand_drill", "survivor"],
    palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]],
    native_size=(720, 1280),
    splits=("train", "test"),
    val_split=None,
    layout="""\
<root>/                       (the official `PST900_RGBT_Dataset` folder; split = folder, no txt files)
  train/rgb/<stem>.png        1280x720 RGB, 8-bit
  train/thermal/<stem>.png    1280x720, 8-bit (0 = no thermal data, parallax holes)
  train/thermal_raw/<stem>.png  optional, 16-bit (options={"thermal": "raw"})
  train/labels/<stem>.png     1280x720, 8-bit class ids 0..4
  test/...                    same folders""",
    preprocess=PreprocessConfig(modality="thermal"),
    reader="pst900",
    x_description="thermal/ (8-bit) by default; thermal_raw/ (16-bit, per-frame stretch) with options "
                  "thermal=raw",
    label_description="uint8 ids 0..4, background is a scored class",
    aliases=("pst", "pst-900"),
)

_FMB = DatasetInfo(
    name="fmb",
    title="FMB (Liu et al., ICCV 2023, SegMiF): RGB-infrared urban scenes",
    modality="thermal",
    class_names=["background", "road", "sidewalk", "building", "lamp", "sign", "vegetation", "sky", "person",
                 "car", "truck", "bus", "motorcycle", "bicycle", "pole"],
    palette=[[0, 0, 0], [228, 228, 179], [133, 57, 181], [177, 162, 67], [50, 178, 200], [199, 45, 132],
             [84, 172, 66], [79, 73, 179], [166, 99, 76], [253, 121, 66], [91, 165, 137], [152, 97, 155],
             [140, 153, 105], [158, 215, 222], [90, 113, 135]],
    native_size=(600, 800),
    splits=("train", "test"),
    val_split=None,
    layout="""\
<root>/                         (the split is the folder, no txt files)
  train/Visible/<stem>.png      800x600 RGB, 8-bit (a 4th channel is dropped)
  train/Infrared/<stem>.png     800x600, 8-bit, 1 channel (3 channels are reduced to grey)
  train/Label/<stem>.png        800x600, 8-bit class ids 0..14 (255 = ignore)
  train/color/<stem>.png        optional colour rendering, not read
  test/...                      same folders""",
    preprocess=PreprocessConfig(modality="thermal"),
    reader="fmb",
    x_description="Infrared/, 8-bit",
    label_description="uint8 ids 0..14 (15 classes, background scored as in the RXSSNet spec); 255 ignored",
)

_CITYSCAPES = DatasetInfo(
    name="cityscapes",
    title="Cityscapes (Cordts et al., CVPR 2016) as RGB-D: left image + stereo disparity",
    modality="disparity",
    class_names=["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                 "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                 "motorcycle", "bicycle"],
    palette=[[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
             [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
             [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]],
    native_size=(1024, 2048),
    splits=("train", "val", "test"),
    crop_size=(1024, 1024),
    layout="""\
<root>/                                              (leftImg8bit, disparity and gtFine packages unpacked)
  leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png   2048x1024 RGB, 8-bit
  disparity/<split>/<city>/<city>_<seq>_<frame>_disparity.png       2048x1024, 16-bit: 0 invalid, else 256*d+1
  gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png    8-bit label ids 0..33 (mapped to trainIds)
<split> is train, val or test; without gtFine/<split> the split is unlabelled""",
    preprocess=PreprocessConfig(modality="disparity", disparity_max=128.0),
    reader="cityscapes",
    x_description="disparity/ 16-bit PNG, d = (p - 1) / 256 pixels, p = 0 invalid",
    label_description="gtFine labelIds mapped to the 19 trainIds, every other id to 255 "
                      "(an existing _gtFine_labelTrainIds.png is used only when labelIds is absent)",
)

_NYU_CLASSES = [
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes",
    "ceiling", "books", "refridgerator", "television", "paper", "towel", "shower curtain", "box",
    "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure",
    "otherfurniture", "otherprop"]
_NYU_LAYOUT = """\
<root>/                       (the SA-Gate / CMX `NYUDepthv2` folder, or DFormer's)
  RGB/<n>.jpg                 640x480 RGB
  HHA/<n>.jpg                 640x480 HHA, 3 channels (dataset nyuv2)
  Depth/<n>.npy               float32 metres (SA-Gate), or Depth/<n>.png: 8-bit (DFormer) or 16-bit mm
                              (dataset nyuv2_depth)
  Label/<n>.png               8-bit raw ids 0..40 (0 = void)
  train.txt test.txt          lines `<n>`, `RGB/<n>.jpg` or `RGB/<n>.jpg<TAB>Label/<n>.png`"""

_NYUV2 = DatasetInfo(
    name="nyuv2",
    title="NYU Depth V2 (Silberman et al., ECCV 2012): indoor RGB-D, depth as HHA",
    modality="hha",
    class_names=list(_NYU_CLASSES),
    palette=_voc_shifted(40),
    native_size=(480, 640),
    splits=("train", "test"),
    val_split=None,
    layout=_NYU_LAYOUT,
    preprocess=PreprocessConfig(modality="hha"),
    reader="nyuv2",
    x_description="HHA/<n>.jpg (horizontal disparity, height, angle), 3 channels, 8-bit",
    label_description="raw 0 (void) -> 255, raw k -> k-1 (40 classes)",
    aliases=("nyu", "nyudv2", "nyuv2_hha", "nyudepthv2"),
)

_NYUV2_DEPTH = _NYUV2.copy(
    name="nyuv2_depth",
    title="NYU Depth V2: indoor RGB-D, raw depth (metres .npy, 16-bit mm or DFormer 8-bit PNG)",
    modality="depth",
    preprocess=PreprocessConfig(modality="depth", depth_scale_m=0.001, depth_max_m=10.0),
    x_description="Depth/<n>.npy float32 metres (preferred), else Depth/<n>.png (uint16 mm, or uint8 "
                  "rendering)",
    aliases=("nyu_depth", "nyudv2_depth"),
)

_ZJU = DatasetInfo(
    name="zju_rgbp",
    title="ZJU-RGB-P (Xiang et al., Optics Express 2021): RGB-polarization campus scenes",
    modality="polarization",
    class_names=["building", "glass", "car", "road", "vegetation", "sky", "pedestrian", "bicycle"],
    palette=_voc_shifted(8),
    native_size=(1024, 1224),
    splits=("train", "val"),
    layout="""\
<root>/                               (unpacked RGB-P-dataset.rar; the split is the folder)
  train/0/<stem>_0.png                1224x1024 colour image behind a 0-degree polarizer (the RGB input)
  train/45/<stem>_45.png  train/90/<stem>_90.png  train/135/<stem>_135.png
  train/label/<stem>.png              class ids 0..8 (0 = background, ignored); also train/train_label/.
                                      P-mode, grey or VOC-colour PNGs are all decoded to ids
  val/...                             same folders""",
    preprocess=PreprocessConfig(modality="polarization", polarization_channel="aolp"),
    reader="zju_rgbp",
    x_description="AoLP (radians, [0, pi]) or DoLP ([0, 1]) computed from the four angle images (Stokes), "
                  "monochromatic by default, per colour channel with options trichromatic=True; "
                  "preprocess.polarization_channel picks AoLP or DoLP",
    label_description="raw 0 (background) -> 255, raw k -> k-1 (8 classes)",
    aliases=("zju", "zju-rgb-p", "zju_rgb_p", "rgbp"),
)

GENERIC_LAYOUT = """\
<root>/
  rgb/<stem>.<png|jpg|jpeg|bmp|tif|tiff>   8-bit colour
  x/<stem>.<png|tif|tiff|npy|...>          1 or 3 channels: 8/16-bit image, float32 TIFF or .npy
  labels/<stem>.png                        class ids (grey or P-mode; colour with a dataset.yaml palette);
                                           255 = ignore.
                                           Without labels/ the dataset is unlabelled (prediction only)
  splits/<split>.txt  or  <split>.txt      one stem per line (split `all` = every stem, when no all.txt)
  dataset.yaml                             optional: class_names, palette, modality, ignore_index,
                                           preprocess, native_size, name
Files are paired by stem, never by position."""

_GENERIC = DatasetInfo(
    name="generic",
    title="Your own RGB-X folder (generic layout)",
    modality="thermal",
    class_names=[],
    palette=[],
    native_size=None,
    splits=("train", "val", "test", "all"),
    layout=GENERIC_LAYOUT,
    preprocess=PreprocessConfig(modality="thermal"),
    reader="generic",
    x_description="x/<stem>.*, modality from dataset.yaml (default thermal)",
    label_description="class ids 0..K-1, 255 (or dataset.yaml ignore_index) ignored; K from dataset.yaml "
                      "class_names, else from the largest id in labels/",
    aliases=("folder", "custom"),
)

SYNTHETIC_CLASSES = ["background", "painted_marker", "warm_person", "vehicle"]
SYNTHETIC_PALETTE = [[0, 0, 0], [255, 64, 160], [255, 200, 0], [0, 160, 255]]

_SYNTHETIC = DatasetInfo(
    name="synthetic_fusion",
    title="Synthetic RGB-thermal scenes where some classes are visible only in RGB, some only in thermal",
    modality="thermal",
    class_names=list(SYNTHETIC_CLASSES),
    palette=[list(c) for c in SYNTHETIC_PALETTE],
    native_size=(96, 128),
    splits=("train", "val", "test"),
    crop_size=(96, 128),
    layout=GENERIC_LAYOUT + "\nCreate it with `rxssnet datasets synthetic_fusion --generate DIR` or "
                            "rxssnet_core.data.synthetic.generate_fusion_dataset(DIR).",
    preprocess=PreprocessConfig(modality="thermal"),
    reader="generic",
    x_description="x/<stem>.png, 8-bit thermal",
    label_description="painted_marker: RGB only; warm_person: thermal only; vehicle: both",
    aliases=("synthetic",),
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (_MFNET, _PST900, _FMB, _CITYSCAPES, _NYUV2, _NYUV2_DEPTH, _ZJU, _GENERIC, _SYNTHETIC)
}


def canonical_name(name: str) -> str:
    """Registry key for `name` (case, '-' and aliases tolerated); else DatasetError listing known names."""
    key = str(name).strip().lower().replace("-", "_")
    if key in DATASETS:
        return key
    for info in DATASETS.values():
        if key in {a.replace("-", "_") for a in info.aliases}:
            return info.name
    close = difflib.get_close_matches(key, list(DATASETS), n=2)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}.{hint}")


def get_info(name: str) -> DatasetInfo:
    """The registry entry of `name` (aliases accepted), as a copy the caller may change."""
    return DATASETS[canonical_name(name)].copy()
