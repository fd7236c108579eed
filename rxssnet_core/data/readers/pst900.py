# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""PST900 as downloaded: `<split>/{rgb,thermal,thermal_raw,labels}/<stem>.png`, the split is the folder."""

from __future__ import annotations

import numpy as np

from rxssnet_core.data import io
from rxssnet_core.data.readers.base import FolderSplitReader, SampleFiles, require_x_dtype


class PST900Reader(FolderSplitReader):
    """RGB from `rgb/`; thermal from `thermal/` (8-bit), or `thermal_raw/` (16-bit) with thermal="raw"."""

    RGB_DIR = "rgb"
    LABEL_DIR = "labels"
    OPTIONS = {"thermal": ("8bit", "raw")}  # noqa: RUF012 - class constant, never mutated

    def x_dir(self) -> str:
        return "thermal_raw" if self.options.get("thermal") == "raw" else "thermal"

    def read_pair(self, sample: SampleFiles) -> tuple[np.ndarray, np.ndarray]:
        x = io.to_gray(io.read_x(sample.x[0], "PST900 thermal image"))
        if self.x_dir() == "thermal_raw":
            require_x_dtype(x, (np.uint16,), sample.x[0],
                            "PST900 thermal_raw/ holds 16-bit radiometric values")
        else:
            require_x_dtype(x, (np.uint8,), sample.x[0], "PST900 thermal/ holds 8-bit images")
        return io.read_rgb(sample.rgb, "PST900 RGB image"), x
