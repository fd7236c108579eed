"""ConvNeXt V2 encoder (timm) returning the four raw stage outputs."""

from __future__ import annotations

import timm
import torch
from torch import nn


class ConvNeXtV2Encoder(nn.Module):
    """A timm `convnextv2_<variant>` trunk without classifier head or final norm.

    forward: (B, in_chans, H, W) -> [(B, C1, H/4, W/4), (B, C2, H/8, W/8), (B, C3, H/16, W/16), (B, C4, H/32, W/32)],
    the un-normalised stage outputs the paper fuses. Keys follow timm's layout (`stem.*`, `stages.i.blocks.j.*`).
    """

    def __init__(self, variant: str = "tiny", in_chans: int = 3, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        trunk = timm.create_model(
            f"convnextv2_{variant}", pretrained=False, in_chans=in_chans, num_classes=0,
            drop_path_rate=drop_path_rate)
        # Keep only what the forward pass uses: the reference builds the final norm but never calls it.
        self.stem = trunk.stem
        self.stages = trunk.stages
        self.dims = tuple(int(info["num_chs"]) for info in trunk.feature_info)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
