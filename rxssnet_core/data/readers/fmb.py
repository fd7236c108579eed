# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""FMB as downloaded: `<split>/{Visible,Infrared,Label}/<stem>.png`, the split is the folder."""

from __future__ import annotations

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.readers.base import FolderSplitReader, SampleFiles, require_x_dtype


class FMBReader(FolderSplitReader):
    """RGB from `Visible/` (alpha dropped), 8-bit infrared from `Infrared/` (3 channels reduced to grey)."""

    RGB_DIR = "Visible"
    X_DIR = "Infrared"
    LABEL_DIR = "Label"

    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        x = io.to_gray(io.read_x(sample.x[0], "FMB infrared image"))
        require_x_dtype(x, (np.uint8,), sample.x[0], "FMB infrared images are 8-bit")
        return io.read_rgb(sample.rgb, "FMB visible image"), x
