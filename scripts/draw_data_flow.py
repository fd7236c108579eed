# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Draws docs/images/data_flow.png, the README's data-flow picture (matplotlib only)."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

BOXES = [
    ("RGB camera\nsensor_msgs/Image", 0.2, 2.2, "#d8e8ff"),
    ("X camera\nthermal / depth / polarization", 0.2, 0.6, "#ffe2c8"),
    ("image_conversion\n+ ApproximateTime\npairing", 2.9, 1.4, "#eeeeee"),
    ("alignment\nX registered to RGB", 5.4, 1.4, "#eeeeee"),
    ("preprocessing\nmodality -> [0,1],\nreplicate, ImageNet norm", 7.9, 1.4, "#eeeeee"),
    ("RXSSNet\n2x ConvNeXt V2, CRM,\nCGPI + LAM, PLPD", 10.6, 1.4, "#d9f2d9"),
    ("~/labels  ~/colored\n~/overlay  ~/confidence\n~/points  /diagnostics", 13.3, 1.4, "#f7e6ff"),
]


def main(out: str = "docs/images/data_flow.png") -> int:
    figure, axes = plt.subplots(figsize=(13, 3.4), dpi=110)
    axes.set_xlim(0, 15.6)
    axes.set_ylim(0, 3.4)
    axes.axis("off")
    centers = []
    for text, x, y, color in BOXES:
        width, height = 2.2, 1.0
        axes.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.05", fc=color, ec="#555555"))
        axes.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=8.5)
        centers.append((x, y, width, height))
    arrows = [(0, 2), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    for start, end in arrows:
        x0, y0, w0, h0 = centers[start]
        x1, y1, _, h1 = centers[end]
        axes.add_patch(FancyArrowPatch((x0 + w0, y0 + h0 / 2), (x1, y1 + h1 / 2), arrowstyle="-|>",
                                       mutation_scale=12, color="#333333"))
    axes.text(7.8, 0.25, "segment_node: a thin shell; every step is a tested library call "
              "(rxssnet_ros -> rxssnet_core)", ha="center", fontsize=8.5, style="italic")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
