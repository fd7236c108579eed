# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""An independent transcription of the authors' RXSSNet forward pass, in THEIR module layout and key names.

Two users: the parity tests (test/reference_rxssnet.py re-exports this module) draw random weights here, pass
the state_dict through our converter and require the same logits from our model; `rxssnet bench` times this
forward beside ours (same torch, same threads), so every speed ratio has the authors' network as denominator.
It follows the reference's structure (official ConvNeXt V2 with channels-first LayerNorm and (1,1,1,C) GRN,
complex-number RoPE with a stored rotation table, CMX CrossPath, dead LAM mlp/norm2, decoder linear_c1), so a
mistake in our re-organised model or in the key mapping shows up as a logit difference.

Shapes: `ReferenceRXSSNet(height, width)(rgb (B,3,H,W), thermal (B,3,H,W)) -> logits (B,K,H,W)`; H and W are
fixed at construction (RoPE tables and LAM token counts depend on them) and must be multiples of 32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNormCF(nn.Module):
    def __init__(self, dim, eps=1e-6, data_format="channels_last"):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps, self.data_format, self.dim = eps, data_format, (dim,)

    def forward(self, x):
        if self.data_format == "channels_last":
            return F.layer_norm(x, self.dim, self.weight, self.bias, self.eps)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNormCF(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        shortcut = x
        x = self.dwconv(x).permute(0, 2, 3, 1)
        x = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(x)))))
        return shortcut + x.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    def __init__(self, in_chans=3, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)):
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_chans, dims[0], 4, stride=4),
                           LayerNormCF(dims[0], data_format="channels_first"))]
            + [nn.Sequential(LayerNormCF(dims[i], data_format="channels_first"), nn.Conv2d(dims[i], dims[i + 1], 2, 2))
               for i in range(3)])
        self.stages = nn.ModuleList(nn.Sequential(*[Block(dims[i]) for _ in range(depths[i])]) for i in range(4))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)  # built, never used (as the reference)

    def forward(self, x):
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            outs.append(x)
        return outs


class RoPE(nn.Module):
    def __init__(self, num_tokens, dim, base=10000):
        super().__init__()
        k_max = dim // 2
        theta = 1 / (base ** (torch.arange(k_max) / k_max))
        angles = torch.arange(num_tokens).unsqueeze(-1) * theta
        self.register_buffer("rotations", torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1))

    def forward(self, x):
        x = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(torch.view_as_complex(self.rotations) * x).flatten(-2)


class LinearAttention(nn.Module):
    def __init__(self, dim, num_tokens, num_heads=4):
        super().__init__()
        self.num_heads = num_heads
        self.qk = nn.Linear(dim, dim * 2)
        self.elu = nn.ELU()
        self.lepe = nn.Conv1d(dim, dim, 3, padding=1, groups=dim)
        self.rope = RoPE(num_tokens, dim)

    def forward(self, x):
        b, n, c = x.shape
        h, d = self.num_heads, c // self.num_heads
        qk = self.qk(x).reshape(b, n, 2, c).permute(2, 0, 1, 3)
        q, k, v = self.elu(qk[0]) + 1.0, self.elu(qk[1]) + 1.0, x
        q_rope = self.rope(q).reshape(b, n, h, d).permute(0, 2, 1, 3)
        k_rope = self.rope(k).reshape(b, n, h, d).permute(0, 2, 1, 3)
        q, k, v = (t.reshape(b, n, h, d).permute(0, 2, 1, 3) for t in (q, k, v))
        z = 1 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
        kv = (k_rope.transpose(-2, -1) * (n ** -0.5)) @ (v * (n ** -0.5))
        x = (q_rope @ kv * z).transpose(1, 2).reshape(b, n, c)
        return x + self.lepe(v.transpose(1, 2).reshape(b, n, c).permute(0, 2, 1)).permute(0, 2, 1)


class MlpT(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MLLABlock(nn.Module):
    def __init__(self, dim, num_tokens):
        super().__init__()
        self.cpe1 = nn.Conv1d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.in_proj, self.act_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.dwc = nn.Conv1d(dim, dim, 3, padding=1, groups=dim)
        self.act = nn.SiLU()
        self.attn = LinearAttention(dim, num_tokens)
        self.out_proj = nn.Linear(dim, dim)
        self.cpe2 = nn.Conv1d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MlpT(dim, dim * 4)

    def forward(self, x):
        x = x + self.cpe1(x.permute(0, 2, 1)).permute(0, 2, 1)
        shortcut = x
        x = self.norm1(x)
        act_res = self.act(self.act_proj(x))
        x = self.act(self.dwc(self.in_proj(x).permute(0, 2, 1))).permute(0, 2, 1)
        x = shortcut + self.out_proj(self.attn(x) * act_res)
        x = x + self.cpe2(x.permute(0, 2, 1)).permute(0, 2, 1)
        return x + self.mlp(self.norm2(x))


class TokenCorrector(nn.Module):
    def __init__(self, dim, stride, num_tokens, in_chans=6):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, 7, stride=stride, padding=3)
        self.mlla = MLLABlock(dim, num_tokens)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(self.mlla(self.proj(x).flatten(2).transpose(1, 2)))


class CrossAttention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.kv1 = nn.Linear(dim, dim * 2, bias=False)
        self.kv2 = nn.Linear(dim, dim * 2, bias=False)

    def forward(self, x1, x2):
        b, n, c = x1.shape
        h = self.num_heads
        q1 = x1.reshape(b, -1, h, c // h).permute(0, 2, 1, 3)
        q2 = x2.reshape(b, -1, h, c // h).permute(0, 2, 1, 3)
        k1, v1 = self.kv1(x1).reshape(b, -1, 2, h, c // h).permute(2, 0, 3, 1, 4)
        k2, v2 = self.kv2(x2).reshape(b, -1, 2, h, c // h).permute(2, 0, 3, 1, 4)
        ctx1 = ((k1.transpose(-2, -1) @ v1) * self.scale).softmax(dim=-2)
        ctx2 = ((k2.transpose(-2, -1) @ v2) * self.scale).softmax(dim=-2)
        return ((q1 @ ctx2).permute(0, 2, 1, 3).reshape(b, n, c), (q2 @ ctx1).permute(0, 2, 1, 3).reshape(b, n, c))


class CrossPathRef(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.channel_proj1, self.channel_proj2 = nn.Linear(dim, dim * 2), nn.Linear(dim, dim * 2)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.end_proj1, self.end_proj2, self.end_proj3 = (nn.Linear(dim * 2, dim) for _ in range(3))
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(dim) for _ in range(3))

    def forward(self, x1, x2):
        y1, u1 = F.relu(self.channel_proj1(x1)).chunk(2, dim=-1)
        y2, u2 = F.relu(self.channel_proj2(x2)).chunk(2, dim=-1)
        v1, v2 = self.cross_attn(u1, u2)
        o1 = self.norm1(x1 + self.end_proj1(torch.cat((y1, v1), dim=-1)))
        o2 = self.norm2(x2 + self.end_proj2(torch.cat((y2, v2), dim=-1)))
        return self.norm3(self.end_proj3(torch.cat((o1, o2), dim=-1)))


class ChannelEmbedRef(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.residual = nn.Conv2d(dim, dim, 1, bias=False)
        self.channel_embed = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 3, padding=1, groups=dim),
                                           nn.ReLU(), nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim))
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, x, h, w):
        b, _, c = x.shape
        x = x.permute(0, 2, 1).reshape(b, c, h, w)
        return self.norm(self.residual(x) + self.channel_embed(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim, kernel):
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel, stride=1, padding=kernel // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.proj(x)
        return self.norm(x.flatten(2).transpose(1, 2)), x.shape[2], x.shape[3]


class DWConvWrap(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)


class DeadMlp(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1, self.dwconv, self.fc2 = nn.Linear(dim, dim), DWConvWrap(dim), nn.Linear(dim, dim)


class MHCAFormer(nn.Module):
    def __init__(self, dim, num_heads, kernel):
        super().__init__()
        self.cross = CrossPathRef(dim, num_heads)
        self.channel_emb = ChannelEmbedRef(dim)
        self.patch_embed_vi = PatchEmbed(dim, kernel)
        self.patch_embed_ir = PatchEmbed(dim, kernel)
        self.mlp = DeadMlp(dim)
        self.norm = nn.LayerNorm(dim)
        self.norm2 = nn.BatchNorm1d(dim)

    def forward(self, x1, x2, token):
        b, c = x1.shape[:2]
        x1, h, w = self.patch_embed_vi(x1)
        x2, _, _ = self.patch_embed_ir(x2)
        x = self.norm(self.cross(x1, x2) + token)
        out = self.norm(self.channel_emb(x, h, w).flatten(2).transpose(1, 2) + x)
        return out.transpose(1, 2).reshape(b, c, h, w)


class LinearMLP(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x):
        return self.proj(x.flatten(2).transpose(1, 2))


class Decoder(nn.Module):
    def __init__(self, dims, num_classes, embed):
        super().__init__()
        self.linear_c4 = LinearMLP(dims[3], embed)
        self.linear_c3 = LinearMLP(embed, embed)
        self.linear_c2 = LinearMLP(embed, embed)
        self.linear_c1 = LinearMLP(embed, embed)  # built, never used (as the reference)

        def fuse(cin):
            return nn.Sequential(nn.Conv2d(cin, embed, 1), nn.BatchNorm2d(embed), nn.ReLU())

        self.linear_fuse43, self.linear_fuse32 = fuse(embed + dims[2]), fuse(embed + dims[1])
        self.linear_fuse21 = fuse(embed + dims[0])
        self.dropout = nn.Dropout2d(0.1)
        self.linear_pred = nn.Conv2d(embed, num_classes, 1)

    def forward(self, feats):
        c1, c2, c3, c4 = feats
        n = c4.shape[0]

        def lin(layer, x):
            return layer(x).permute(0, 2, 1).reshape(n, -1, x.shape[2], x.shape[3])

        def up(x, like):
            return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)

        x = self.linear_fuse43(torch.cat([up(lin(self.linear_c4, c4), c3), c3], dim=1))
        x = self.linear_fuse32(torch.cat([up(lin(self.linear_c3, x), c2), c2], dim=1))
        x = self.linear_fuse21(torch.cat([up(lin(self.linear_c2, x), c1), c1], dim=1))
        return self.linear_pred(self.dropout(x))


class ReferenceRXSSNet(nn.Module):
    """The authors' network for one fixed input size (height, width multiples of 32)."""

    def __init__(self, height=480, width=640, num_classes=9, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768),
                 decoder_dim=768):
        super().__init__()
        self.encoder_rgb = ConvNeXtV2(3, depths, dims)
        self.encoder_thermal = ConvNeXtV2(3, depths, dims)
        strides = (4, 8, 16, 32)
        self.Token_corrector = nn.ModuleList(
            TokenCorrector(d, s, (height // s) * (width // s)) for d, s in zip(dims, strides))
        self.crossFormer = nn.ModuleList(
            MHCAFormer(d, h, k) for d, h, k in zip(dims, (1, 2, 4, 8), (7, 3, 3, 3)))
        self.decoder = Decoder(dims, num_classes, decoder_dim)

    @staticmethod
    def csf(r, t):
        w = F.relu(F.cosine_similarity(r.flatten(2), t.flatten(2), dim=2))[:, :, None, None]
        return w * r + r, (1 - w) * t + t

    def forward(self, rgb, thermal):
        fr, ft = self.encoder_rgb(rgb), self.encoder_thermal(thermal)
        prior_in = torch.cat((rgb, thermal), dim=1)
        fused = []
        for i in range(4):
            r, t = self.csf(fr[i], ft[i])
            fused.append(self.crossFormer[i](r, t, self.Token_corrector[i](prior_in)))
        out = self.decoder(fused)
        return F.interpolate(out, size=rgb.shape[2:], mode="bilinear", align_corners=True)


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Draws every float tensor (weights, GRN, norms, BN statistics) so that no term is trivially zero or one."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "norm3.weight")) or ".1.weight" in name:
                tensor.copy_(1.0 + 0.1 * torch.randn(tensor.shape, generator=generator))
            elif "rotations" in name:
                continue
            else:
                fan_in = tensor[0].numel() if tensor.ndim > 1 else 1
                tensor.copy_(torch.randn(tensor.shape, generator=generator) / max(fan_in, 1) ** 0.5 * 0.5)
    return model
