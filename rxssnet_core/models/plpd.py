# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""PLPD: Progressive Linear Projection Decoder (spec 1.7)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LinearProjection(nn.Linear):
    """Per-pixel Linear (a 1x1 projection) on a feature map: (B, Cin, H, W) -> (B, Cout, H, W).

    Stored as nn.Linear, as in the reference, and applied as a 1x1 convolution to avoid two transposes.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight[:, :, None, None], self.bias)


class FuseBlock(nn.Sequential):
    """Conv1x1 + BN + ReLU on concat(upsampled decoder feature, skip)."""

    def __init__(self, in_chans: int, dim: int) -> None:
        super().__init__(nn.Conv2d(in_chans, dim, kernel_size=1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))


class PLPD(nn.Module):
    """Top-down decoder over the fused features F1..F4 (strides 4..32).

    a = Linear(F4) -> up to F3 -> Fuse([a, F3]) -> Linear -> up to F2 -> Fuse([., F2]) -> Linear -> up to F1 ->
    Fuse([., F1]) -> Dropout2d -> Conv1x1 to K classes: logits (B, K, H/4, W/4).
    """

    def __init__(self, in_dims: Sequence[int], num_classes: int, embed_dim: int = 768, dropout: float = 0.1) -> None:
        super().__init__()
        c1, c2, c3, c4 = in_dims
        self.linear_c4 = LinearProjection(c4, embed_dim)
        self.linear_c3 = LinearProjection(embed_dim, embed_dim)
        self.linear_c2 = LinearProjection(embed_dim, embed_dim)
        self.fuse43 = FuseBlock(embed_dim + c3, embed_dim)
        self.fuse32 = FuseBlock(embed_dim + c2, embed_dim)
        self.fuse21 = FuseBlock(embed_dim + c1, embed_dim)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(embed_dim, num_classes, kernel_size=1)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        f1, f2, f3, f4 = features
        x = self.fuse43(torch.cat((self._up(self.linear_c4(f4), f3), f3), dim=1))
        x = self.fuse32(torch.cat((self._up(self.linear_c3(x), f2), f2), dim=1))
        x = self.fuse21(torch.cat((self._up(self.linear_c2(x), f1), f1), dim=1))
        return self.classifier(self.dropout(x))
