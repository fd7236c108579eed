# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""One reader per dataset layout; `READERS[info.reader]` is the class that parses it."""

from __future__ import annotations

from rxssnet_core.data.readers.base import FolderSplitReader, Problems, Reader, SampleFiles, read_split_file
from rxssnet_core.data.readers.cityscapes import CityscapesReader, label_ids_to_train_ids
from rxssnet_core.data.readers.fmb import FMBReader
from rxssnet_core.data.readers.generic import GenericReader, load_dataset_yaml
from rxssnet_core.data.readers.mfnet import MFNetReader
from rxssnet_core.data.readers.nyuv2 import NYUv2Reader, nyu_raw_to_train
from rxssnet_core.data.readers.pst900 import PST900Reader
from rxssnet_core.data.readers.zju import ZJURGBPReader

READERS: dict[str, type[Reader]] = {
    "mfnet": MFNetReader,
    "pst900": PST900Reader,
    "fmb": FMBReader,
    "cityscapes": CityscapesReader,
    "nyuv2": NYUv2Reader,
    "zju_rgbp": ZJURGBPReader,
    "generic": GenericReader,
}

__all__ = [
    "READERS",
    "CityscapesReader",
    "FMBReader",
    "FolderSplitReader",
    "GenericReader",
    "MFNetReader",
    "NYUv2Reader",
    "PST900Reader",
    "Problems",
    "Reader",
    "SampleFiles",
    "ZJURGBPReader",
    "label_ids_to_train_ids",
    "load_dataset_yaml",
    "nyu_raw_to_train",
    "read_split_file",
]
