# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""CGPI: Cross-modal Global Prior Information (spec 1.5), the reference's `Token_corrector`.

A strided 7x7 conv embeds concat(RGB, X) into tokens, one MLLA block (Mamba-like linear attention with a 1-D
rotary position encoding over the raster token index) mixes them globally, and a LayerNorm closes it.

Reduced precision: the linear attention's sums over all N tokens (k^T v, mean k, the normaliser 1/(q . mean k))
run in fp32 whatever the input dtype; exported, they sit in the `attn` scope that
`rxssnet_core.onnx_precision` lists for fp32. A fixed-size export holds the RoPE tables as constants
(`rope_tables_as_constants`): angles reach N rad (19200 at 480x640), where fp16 spacing is 16.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# Set by `rope_tables_as_constants` for the duration of a fixed-size export.
_CONSTANT_TABLES_IN_TRACE = contextvars.ContextVar("rxssnet_constant_rope_tables", default=False)


def _tracing() -> bool:
    # Cached tables are Python-side state: an exporter must see them computed from the symbolic token count.
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or (compiling and compiling()))


@contextlib.contextmanager
def rope_tables_as_constants(enabled: bool = True) -> Iterator[None]:
    """Inside, a TorchScript trace (the ONNX export) records the RoPE cos/sin tables as constants.

    For fixed-size exports only: the tables are computed for the traced token count, so the graph holds no
    Range/Cos/Sin and no fp16 engine ever computes an angle. A dynamic-size export must not use it (the
    tables would be wrong at any other size); there the tables stay computed from the symbolic token count.
    """
    token = _CONSTANT_TABLES_IN_TRACE.set(bool(enabled))
    try:
        yield
    finally:
        _CONSTANT_TABLES_IN_TRACE.reset(token)


@contextlib.contextmanager
def _tracer_paused() -> Iterator[None]:
    # Tensors made while the TorchScript tracer is paused enter the traced graph as constants (initializers).
    # torch has no public switch for this; the TorchScript exporter that needs it is frozen.
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


class RotaryEmbedding1d(nn.Module):
    """1-D RoPE over the token index, applied to the whole C-vector (consecutive channel pairs rotate together).

    Pair j of token n rotates by n * theta_j, theta_j = base^(-j / (C/2)). The cos/sin tables are computed for the
    actual token count and cached per (N, device, dtype); they are not parameters and never enter checkpoints
    (the reference stored them, which tied its checkpoints to 480x640).
    (B, N, C) -> (B, N, C).
    """

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"RoPE needs an even channel count, got {dim}")
        self.dim = dim
        self.base = base
        self._cache: dict[tuple[int, torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, num_tokens: int | torch.Tensor, device: torch.device, dtype: torch.dtype
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C/2) cos and sin tables, computed exactly as the reference (float32 angles)."""
        if _CONSTANT_TABLES_IN_TRACE.get() and torch.jit.is_tracing():
            with _tracer_paused():
                return self._computed(int(num_tokens), device, dtype, cache=True)
        return self._computed(num_tokens, device, dtype, cache=not _tracing())

    def _computed(self, num_tokens: int | torch.Tensor, device: torch.device, dtype: torch.dtype, cache: bool
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        key = (int(num_tokens), device, dtype) if cache else None
        if key is not None and key in self._cache:
            return self._cache[key]
        half = self.dim // 2
        theta = 1.0 / (self.base ** (torch.arange(half, device=device) / half))
        angles = torch.arange(num_tokens, device=device)[:, None] * theta[None, :]
        cos, sin = torch.cos(angles).to(dtype), torch.sin(angles).to(dtype)
        if key is not None:
            if len(self._cache) > 16:  # a node switching sizes must not grow memory without bound
                self._cache.clear()
            self._cache[key] = (cos, sin)
        return cos, sin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, channels = x.shape
        cos, sin = self.tables(x.shape[1], x.device, x.dtype)
        pairs = x.reshape(batch, num_tokens, channels // 2, 2)
        real, imag = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack((real * cos - imag * sin, real * sin + imag * cos), dim=-1)
        return rotated.reshape(batch, num_tokens, channels)


class DepthwiseConv1d(nn.Conv1d):
    """Depthwise kernel-3 conv over the token sequence: (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim, kernel_size=3, padding=1, groups=dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # (B, N, C) tokens, not nn.Conv1d's (B, C, N)
        return super().forward(tokens.transpose(1, 2)).transpose(1, 2)


class RoPELinearAttention(nn.Module):
    """MLLA linear attention with 1-D RoPE and a LePE term (spec 1.5 step 4).

    q, k = ELU(Linear(u)) + 1, v = u (no value projection). Per head:
    out_n = q_rope_n (1/N sum_m k_rope_m^T v_m) / (q_n . mean_m k_m + 1e-6), then + DWConv1d(v).
    (B, N, C) -> (B, N, C).

    Everything from ELU to out_n runs in fp32 (no-op casts for fp32 input): the sums run over all N tokens,
    and in fp16 ELU + 1 underflows to 0 below -17, so 1 / (0 + 1e-6) overflows and 0 * inf gives NaN.
    """

    def __init__(self, dim: int, num_heads: int = 4) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qk = nn.Linear(dim, dim * 2)
        self.lepe = DepthwiseConv1d(dim)
        self.rope = RotaryEmbedding1d(dim)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, channels = u.shape
        heads, head_dim = self.num_heads, channels // self.num_heads
        q, k = (F.elu(t) + 1.0 for t in self.qk(u).float().chunk(2, dim=-1))
        q_rope, k_rope = self.rope(q), self.rope(k)

        def split_heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, num_tokens, heads, head_dim).transpose(1, 2)

        q, k, v, q_rope, k_rope = (split_heads(t) for t in (q, k, u.float(), q_rope, k_rope))
        normalizer = 1.0 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)  # (B, h, N, 1)
        scale = num_tokens ** -0.5
        context = (k_rope.transpose(-2, -1) * scale) @ (v * scale)  # (B, h, d, d)
        out = (q_rope @ context) * normalizer
        out = out.transpose(1, 2).reshape(batch, num_tokens, channels).to(u.dtype)
        return out + self.lepe(u)


class Mlp(nn.Module):
    """Linear C -> 4C, GELU, Linear 4C -> C on tokens."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MLLABlock(nn.Module):
    """One Mamba-like linear-attention block on a 1-D token sequence (spec 1.5 step 3).

    x += CPE1(x); x = x + OutProj(LinAttn(SiLU(DWConv(InProj(LN(x))))) * SiLU(ActProj(LN(x))));
    x += CPE2(x); x += MLP(LN(x)). (B, N, C) -> (B, N, C).
    """

    def __init__(self, dim: int, num_heads: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.cpe1 = DepthwiseConv1d(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, dim)
        self.act_proj = nn.Linear(dim, dim)
        self.dwc = DepthwiseConv1d(dim)
        self.attn = RoPELinearAttention(dim, num_heads)
        self.out_proj = nn.Linear(dim, dim)
        self.cpe2 = DepthwiseConv1d(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.cpe1(x)
        shortcut = x
        h = self.norm1(x)
        gate = F.silu(self.act_proj(h))
        u = F.silu(self.dwc(self.in_proj(h)))
        x = shortcut + self.out_proj(self.attn(u) * gate)
        x = x + self.cpe2(x)
        return x + self.mlp(self.norm2(x))


class CGPI(nn.Module):
    """Cross-modal Global Prior Information for one stage.

    concat(RGB, X) (B, 3 + Cx, H, W) -> Conv7x7/stride s (pad 3) -> tokens (B, N, C) -> MLLA -> LayerNorm,
    with N = ceil(H/s) * ceil(W/s) (equal to the encoder's token count when H and W are multiples of 32).
    """

    def __init__(self, in_chans: int, dim: int, stride: int, num_heads: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=7, stride=stride, padding=3)
        self.block = MLLABlock(dim, num_heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, rgb_x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(rgb_x).flatten(2).transpose(1, 2)
        return self.norm(self.block(tokens))
