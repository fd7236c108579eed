# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""fp16 and bf16 forward passes of a trained RXSSNet agree with fp32 at the robot's 480x640.

The robot runs the network in fp16 (a Jetson's GPU, a TensorRT engine). At 480x640 the GRN's sum of squares over
19200 stage-1 pixels passes fp16's largest value (65504); before the reductions were moved to fp32 every logit
came out NaN. The parity tests use the session's trained fusion model (realistic activations, not random weights)
on synthetic scenes rendered at 480x640; the block tests feed each fp32-reducing block (GRN, LAM's channel
context, CRM) stage-1-sized activations whose plain fp16 reduction overflows, and require a finite result that
matches fp32.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rxssnet_core.config import ModelConfig
from rxssnet_core.data.synthetic import generate_scene
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.models.convnextv2_encoder import GlobalResponseNorm
from rxssnet_core.models.crm import CRM
from rxssnet_core.models.lam import ChannelContext
from rxssnet_core.models.rxssnet import build_model
from rxssnet_core.preprocessing import PreprocessConfig, prepare_inputs

FP16_MAX = float(torch.finfo(torch.float16).max)
MIN_ARGMAX_AGREEMENT = 0.995
HEIGHT, WIDTH = 480, 640


@pytest.fixture(scope="module")
def model_and_inputs(fusion_model):
    model = load_model(fusion_model.checkpoint).eval()
    preprocess = PreprocessConfig.from_dict(model.metadata["preprocess"])
    rng = np.random.default_rng(11)
    pairs = [prepare_inputs(*generate_scene(rng, (HEIGHT, WIDTH))[:2], preprocess) for _ in range(2)]
    rgb = torch.from_numpy(np.stack([p[0] for p in pairs]))
    x = torch.from_numpy(np.stack([p[1] for p in pairs]))
    return model, rgb, x


@pytest.fixture(scope="module")
def fp32_logits(model_and_inputs):
    model, rgb, x = model_and_inputs
    with torch.no_grad():
        return model(rgb, x)


STAGE1_PIXELS = (HEIGHT // 4, WIDTH // 4)  # 120 x 160 = 19200 pixels (or tokens) at stage 1 of 480x640


def stage1_activations(channels: int, channels_last: bool, seed: int = 0) -> torch.Tensor:
    """Activations of std 2 at stage 1 of a 480x640 input: their sum of squares (~77000) passes fp16's 65504."""
    generator = torch.Generator().manual_seed(seed)
    shape = (1, *STAGE1_PIXELS, channels) if channels_last else (1, channels, *STAGE1_PIXELS)
    return 2.0 * torch.randn(*shape, generator=generator)


def test_grn_is_finite_in_fp16_where_the_plain_sum_overflows():
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=3))
    grn = next(m for m in model.modules() if isinstance(m, GlobalResponseNorm))
    with torch.no_grad():  # trained GRNs are not the identity: random weight and bias
        grn.weight.normal_(0.0, 0.5)
        grn.bias.normal_(0.0, 0.5)
    features = stage1_activations(grn.weight.numel(), channels_last=grn.channel_dim in (-1, 3))
    plain_sum = features.half().square().sum(dim=grn.spatial_dim)
    assert not torch.isfinite(plain_sum).all()  # the regime the fp32 reduction exists for
    with torch.no_grad():
        expected = grn(features)
        got = grn.half()(features.half())
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), expected, rtol=2e-2, atol=2e-2)


def test_lam_channel_context_and_crm_are_finite_in_fp16_at_480x640():
    tokens = STAGE1_PIXELS[0] * STAGE1_PIXELS[1]
    generator = torch.Generator().manual_seed(1)
    # keys and values come out of a ReLU in CrossPath: positive, so their products add up instead of cancelling
    keys, values = ((3.0 * torch.randn(1, 1, tokens, 8, generator=generator)).abs() for _ in range(2))
    assert (keys.transpose(-2, -1) @ values).max() > FP16_MAX
    context = ChannelContext(scale=8 ** -0.5)
    expected, got = context(keys, values), context(keys.half(), values.half())
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), expected, rtol=1e-2, atol=1e-3)

    rgb, x = stage1_activations(16, False, seed=2), stage1_activations(16, False, seed=3)
    assert not torch.isfinite(rgb.half().flatten(2).square().sum(-1)).all()
    expected_rgb, expected_x = CRM()(rgb, x)
    got_rgb, got_x = CRM()(rgb.half(), x.half())
    assert torch.isfinite(got_rgb).all() and torch.isfinite(got_x).all()
    torch.testing.assert_close(got_rgb.float(), expected_rgb, rtol=1e-2, atol=2e-2)
    torch.testing.assert_close(got_x.float(), expected_x, rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision_forward_is_finite_and_agrees_with_fp32(model_and_inputs, fp32_logits, dtype):
    model, rgb, x = model_and_inputs
    half_model = copy.deepcopy(model).to(dtype)  # the module's fp32 model stays fp32 for the other tests
    with torch.no_grad():
        logits = half_model(rgb.to(dtype), x.to(dtype))
    assert logits.dtype == dtype and logits.shape == fp32_logits.shape == (2, 4, HEIGHT, WIDTH)
    finite = torch.isfinite(logits).float().mean().item()
    assert finite == 1.0, f"{100 * (1 - finite):.3f} % of the {dtype} logits are not finite"
    agreement = (logits.float().argmax(1) == fp32_logits.argmax(1)).float().mean().item()
    print(f"{dtype}: argmax agreement with fp32 {100 * agreement:.3f} % at {HEIGHT}x{WIDTH}")
    assert agreement >= MIN_ARGMAX_AGREEMENT


def test_fp32_forward_is_unchanged_by_the_fp32_reductions(model_and_inputs, fp32_logits):
    """For fp32 input the added casts are no-ops: the GRN gives the plain formula's value to the bit."""
    model = model_and_inputs[0]
    grn = next(m for m in model.modules() if isinstance(m, GlobalResponseNorm))
    generator = torch.Generator().manual_seed(0)
    shape = [1, 40, 48]
    shape.insert(grn.channel_dim % 4, grn.weight.numel())  # the GRN's own layout, (B, C, H, W) or (B, H, W, C)
    features = torch.randn(*shape, generator=generator)
    with torch.no_grad():
        got = grn(features)
        norm = features.square().sum(dim=grn.spatial_dim, keepdim=True).sqrt()
        normalized = norm / (norm.mean(dim=grn.channel_dim, keepdim=True) + grn.eps)
        shape = grn.wb_shape
        expected = features + grn.bias.view(shape) + grn.weight.view(shape) * (features * normalized)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    assert torch.isfinite(fp32_logits).all()

