# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""LAM: Local-Global Feature Aggregation Module (spec 1.6), the reference's `MHCAFormer`.

Local per-modality embeddings, a channel-context cross-attention exchange (CMX's CrossPath) fused to one stream,
the CGPI global prior added, then a convolutional channel embedding with a residual.

Reduced precision: the channel context k^T v sums over all H*W tokens, so it runs in fp32 whatever the input
dtype; exported, it sits in the `channel_context` scope that `rxssnet_core.onnx_precision` lists for fp32.
"""

from __future__ import annotations

import torch
from torch import nn


class LocalEmbed(nn.Module):
    """Stride-1 kxk conv then LayerNorm: (B, C, H, W) -> tokens (B, H*W, C)."""

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel_size, stride=1, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class ChannelContext(nn.Module):
    """Efficient-attention context per head: softmax over key channels of (k^T v) * scale. (B,h,N,d) -> (B,h,d,d).

    k^T v sums over all N tokens (19200 at stage 1 of 480x640): computed in fp32 (no-op casts for fp32 input),
    since in fp16 it passes 65504 and the softmax of inf is NaN; the softmax output, in [0, 1], is cast back.
    A parameter-free module so that an ONNX export names its ops' scope.
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        context = (keys.float().transpose(-2, -1) @ values.float()) * self.scale
        return context.softmax(dim=-2).to(keys.dtype)


class CrossPath(nn.Module):
    """Cross-modal channel-context exchange, fused into one stream.

    [y | u] = ReLU(Linear(A)) per modality; each modality's context G = softmax((k^T v) / sqrt(d)) with
    [k, v] = Linear(u); RGB queries read X's context (u_rgb G_x) and vice versa; each stream is
    LN(A + Linear([y, u G_other])); the two are fused by LN(Linear([o_rgb, o_x])).
    Tokens (B, N, C) x2 -> (B, N, C).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.channel_context = ChannelContext((dim // num_heads) ** -0.5)
        self.channel_proj_rgb = nn.Linear(dim, dim * 2)
        self.channel_proj_x = nn.Linear(dim, dim * 2)
        self.kv_rgb = nn.Linear(dim, dim * 2, bias=False)
        self.kv_x = nn.Linear(dim, dim * 2, bias=False)
        self.end_proj_rgb = nn.Linear(dim * 2, dim)
        self.end_proj_x = nn.Linear(dim * 2, dim)
        self.fuse_proj = nn.Linear(dim * 2, dim)
        self.norm_rgb = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.norm_fuse = nn.LayerNorm(dim)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, channels = t.shape
        return t.reshape(batch, num_tokens, self.num_heads, channels // self.num_heads).transpose(1, 2)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:
        batch, heads, num_tokens, head_dim = t.shape
        return t.transpose(1, 2).reshape(batch, num_tokens, heads * head_dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y_a, u_a = torch.relu(self.channel_proj_rgb(a)).chunk(2, dim=-1)
        y_b, u_b = torch.relu(self.channel_proj_x(b)).chunk(2, dim=-1)
        k_a, v_a = self.kv_rgb(u_a).chunk(2, dim=-1)
        k_b, v_b = self.kv_x(u_b).chunk(2, dim=-1)
        context_a = self.channel_context(self._heads(k_a), self._heads(v_a))
        context_b = self.channel_context(self._heads(k_b), self._heads(v_b))
        read_a = self._merge(self._heads(u_a) @ context_b)
        read_b = self._merge(self._heads(u_b) @ context_a)
        out_a = self.norm_rgb(a + self.end_proj_rgb(torch.cat((y_a, read_a), dim=-1)))
        out_b = self.norm_x(b + self.end_proj_x(torch.cat((y_b, read_b), dim=-1)))
        return self.norm_fuse(self.fuse_proj(torch.cat((out_a, out_b), dim=-1)))


class ChannelEmbed(nn.Module):
    """Local conv branch: BN(Conv1x1(Z) + BN(Conv1x1(ReLU(DWConv3x3(Conv1x1(Z)))))). (B, C, H, W) -> same."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.residual = nn.Conv2d(dim, dim, kernel_size=1, bias=False)
        self.channel_embed = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, kernel_size=1),
            nn.BatchNorm2d(dim),
        )
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.norm(self.residual(z) + self.channel_embed(z))


class LAM(nn.Module):
    """Local-Global Feature Aggregation for one stage.

    (R~, X~) (B, C, H, W) each and CGPI tokens (B, H*W, C) -> F (B, C, H, W):
    M = LN_s(CrossPath(LocalEmbed(R~), LocalEmbed(X~)) + T); out = LN_s(ChannelEmbed(M) + M), with the SAME
    LN_s applied twice as in the reference.
    """

    def __init__(self, dim: int, num_heads: int, kernel_size: int) -> None:
        super().__init__()
        self.embed_rgb = LocalEmbed(dim, kernel_size)
        self.embed_x = LocalEmbed(dim, kernel_size)
        self.cross_path = CrossPath(dim, num_heads)
        self.channel_embed = ChannelEmbed(dim)
        self.prior_norm = nn.LayerNorm(dim)

    def forward(self, rgb: torch.Tensor, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = rgb.shape
        if not torch.jit.is_tracing() and prior.shape[1] != height * width:
            raise ValueError(
                f"CGPI prior has {prior.shape[1]} tokens but the stage feature map is {height}x{width}; "
                "inputs must be padded to a multiple of 32")
        fused = self.cross_path(self.embed_rgb(rgb), self.embed_x(x))
        merged = self.prior_norm(fused + prior)
        spatial = merged.transpose(1, 2).reshape(batch, channels, height, width)
        embedded = self.channel_embed(spatial).flatten(2).transpose(1, 2)
        out = self.prior_norm(embedded + merged)
        return out.transpose(1, 2).reshape(batch, channels, height, width)
