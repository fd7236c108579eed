# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""CRM: Cross-Modal Feature Reweighting Module (spec 1.4). Parameter-free.

Reduced precision: the cosine similarity sums over all H*W pixels, so it runs in fp32 whatever the input dtype
(in fp16 the norms pass 65504 and the similarity silently becomes 0); exported, it sits in the `crm` scope
that `rxssnet_core.onnx_precision` lists for fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CRM(nn.Module):
    """Reweights RGB and X features by their per-channel spatial cosine similarity.

    s[b, c] = cos(R[b, c, :, :], X[b, c, :, :]) over H*W; w = ReLU(s).
    Returns ((1 + w) * R, (2 - w) * X): agreement emphasises RGB, disagreement emphasises X.
    Shapes: (B, C, H, W) each, in and out.
    """

    def forward(self, rgb: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        similarity = F.cosine_similarity(rgb.flatten(2).float(), x.flatten(2).float(), dim=2)  # eps 1e-8 as ref.
        weight = F.relu(similarity)[:, :, None, None].to(rgb.dtype)  # (B, C, 1, 1), in [0, 1]
        return rgb * (1.0 + weight), x * (2.0 - weight)
