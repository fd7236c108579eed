# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""RXSSNet: two ConvNeXt V2 encoders, CRM + CGPI + LAM fusion at four stages, PLPD decoder (spec section 1)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rxssnet_core.config import ModelConfig
from rxssnet_core.models.cgpi import CGPI
from rxssnet_core.models.convnextv2_encoder import ConvNeXtV2Encoder
from rxssnet_core.models.crm import CRM
from rxssnet_core.models.lam import LAM
from rxssnet_core.models.plpd import PLPD

STAGE_STRIDES = (4, 8, 16, 32)
LAM_HEADS = (1, 2, 4, 8)
LAM_KERNELS = (7, 3, 3, 3)
# Encoder (floor) and CGPI (ceil) token grids agree only on multiples of the coarsest stride.
PAD_MULTIPLE = 32


def _init_fusion_weights(module: nn.Module) -> None:
    """The reference's init for CGPI and LAM (spec 1.9); Conv1d and BatchNorm keep PyTorch defaults."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class RXSSNet(nn.Module):
    """RGB-X semantic segmentation network.

    forward(rgb (B, 3, H, W), x (B, x_channels, H, W)) -> logits (B, K, H, W) at any H, W: inputs are zero-padded
    (zero is the normalised mean) to a multiple of 32 and the logits cropped back. Both inputs are normalised as
    in rxssnet_core.preprocessing. Fusion is a side branch: the encoders run independently and only the decoder
    sees the fused features.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.metadata: dict[str, Any] = {}
        dims = config.dims
        self.encoder_rgb = ConvNeXtV2Encoder(config.variant, 3, config.drop_path_rate)
        self.encoder_x = ConvNeXtV2Encoder(config.variant, config.x_encoder_channels, config.drop_path_rate)
        self.crm = CRM()
        prior_chans = 3 + config.x_encoder_channels
        self.cgpi = nn.ModuleList(CGPI(prior_chans, dim, stride) for dim, stride in zip(dims, STAGE_STRIDES))
        self.lam = nn.ModuleList(
            LAM(dim, heads, kernel) for dim, heads, kernel in zip(dims, LAM_HEADS, LAM_KERNELS))
        self.decoder = PLPD(dims, config.num_classes, config.decoder_dim, config.dropout)
        self.cgpi.apply(_init_fusion_weights)
        self.lam.apply(_init_fusion_weights)

    def _check_inputs(self, rgb: torch.Tensor, x: torch.Tensor) -> None:
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must be (B, 3, H, W), got {tuple(rgb.shape)}")
        if x.ndim != 4 or x.shape[1] != self.config.x_channels:
            raise ValueError(
                f"x must be (B, {self.config.x_channels}, H, W) for this model (x_channels="
                f"{self.config.x_channels}), got {tuple(x.shape)}")
        if rgb.shape[0] != x.shape[0] or rgb.shape[2:] != x.shape[2:]:
            raise ValueError(f"rgb {tuple(rgb.shape)} and x {tuple(x.shape)} differ in batch or size")
        if rgb.shape[2] < 1 or rgb.shape[3] < 1:
            raise ValueError(f"input is empty: {tuple(rgb.shape)}")

    def forward_features(self, rgb: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
        """Fused features F1..F4 for inputs already padded to a multiple of 32."""
        features_rgb = self.encoder_rgb(rgb)
        features_x = self.encoder_x(x)
        prior_input = torch.cat((rgb, x), dim=1)
        fused = []
        for stage, (feat_rgb, feat_x) in enumerate(zip(features_rgb, features_x)):
            reweighted_rgb, reweighted_x = self.crm(feat_rgb, feat_x)
            prior = self.cgpi[stage](prior_input)
            fused.append(self.lam[stage](reweighted_rgb, reweighted_x, prior))
        return fused

    def forward(self, rgb: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing():
            self._check_inputs(rgb, x)
        if self.config.x_channels == 1 and self.config.x_stem == "replicate":
            x = x.expand(-1, 3, -1, -1)
        height, width = rgb.shape[-2], rgb.shape[-1]
        pad_h = (PAD_MULTIPLE - height % PAD_MULTIPLE) % PAD_MULTIPLE
        pad_w = (PAD_MULTIPLE - width % PAD_MULTIPLE) % PAD_MULTIPLE
        rgb = F.pad(rgb, (0, pad_w, 0, pad_h))
        x = F.pad(x, (0, pad_w, 0, pad_h))
        logits = self.decoder(self.forward_features(rgb, x))
        logits = F.interpolate(logits, size=rgb.shape[-2:], mode="bilinear", align_corners=True)
        return logits[:, :, :height, :width]


def build_model(config: ModelConfig | dict[str, Any]) -> RXSSNet:
    """The one factory: a ModelConfig (or its dict form) -> RXSSNet with fresh weights."""
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    return RXSSNet(config)
