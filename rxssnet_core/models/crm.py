"""CRM: Cross-Modal Feature Reweighting Module (spec 1.4). Parameter-free."""

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
        similarity = F.cosine_similarity(rgb.flatten(2), x.flatten(2), dim=2)  # (B, C); eps 1e-8 as reference
        weight = F.relu(similarity)[:, :, None, None]
        return rgb * (1.0 + weight), x * (2.0 - weight)
