# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ConvNeXt V2 encoder (timm) returning the four raw stage outputs."""

from __future__ import annotations

import timm
import torch
from timm.layers.grn import GlobalResponseNorm as TimmGlobalResponseNorm
from torch import nn


class GlobalResponseNorm(nn.Module):
    """ConvNeXt V2's GRN: x + gamma * (x * N(x)) + beta, N(x) = ||x||_spatial / mean_channels(||x||_spatial).

    Same parameters (`weight`, `bias`) and layout handling as timm's, but the spatial L2 norm is computed as
    sqrt(sum(x^2)): over the non-innermost axes of a channels-last tensor that is 3x faster on the CPU than
    `Tensor.norm`, and GRN runs in every block. The sum is clamped at 1e-24 before the square root: a channel
    that is zero everywhere (an all-zero X, e.g. the neutral X of a missing camera, through zero-initialised
    biases) would otherwise get an infinite sqrt gradient and NaN weights, where `Tensor.norm` gives 0. The
    forward value is unchanged in effect (that channel's x * N(x) is 0 either way).

    The sum of squares runs over every pixel (19200 at stage 1 of a 480x640 input): in fp16 it passes 65504
    (and 1e-24 is 0), so N(x) is computed in fp32 whatever the input dtype and cast back (an O(1) ratio, safe
    in fp16 and bf16). For fp32 input the casts are no-ops: bit-identical to the plain formula. In an ONNX
    export these ops sit in the `grn` scope, which `rxssnet_core.onnx_precision` lists for fp32.
    """

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        self.eps = source.eps
        self.spatial_dim = source.spatial_dim
        self.channel_dim = source.channel_dim
        self.wb_shape = source.wb_shape
        self.weight = source.weight
        self.bias = source.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_norm = x.float().square().sum(dim=self.spatial_dim, keepdim=True).clamp_min(1e-24).sqrt()
        normalized = (spatial_norm / (spatial_norm.mean(dim=self.channel_dim, keepdim=True) + self.eps)).to(x.dtype)
        return x + torch.addcmul(self.bias.view(self.wb_shape), self.weight.view(self.wb_shape), x * normalized)


def _use_fast_grn(module: nn.Module) -> int:
    """Replaces every timm GRN inside `module` by ours (same parameters); returns how many it replaced."""
    replaced = 0
    for name, child in module.named_children():
        if isinstance(child, TimmGlobalResponseNorm):
            setattr(module, name, GlobalResponseNorm(child))
            replaced += 1
        else:
            replaced += _use_fast_grn(child)
    return replaced


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
        if _use_fast_grn(self.stages) == 0:
            # a timm whose ConvNeXt V2 blocks no longer use timm.layers.grn: our fp32-safe GRN would be missing
            raise RuntimeError(f"timm {timm.__version__} builds convnextv2_{variant} without "
                               "timm.layers.grn.GlobalResponseNorm; install a timm of the tested range "
                               "(pip install -r requirements/model.txt)")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
