"""fp16 and bf16 forward passes of a trained RXSSNet agree with fp32 at the robot's 480x640.

The robot runs the network in fp16 (a Jetson's GPU, a TensorRT engine). At 480x640 the GRN's sum of squares over
19200 stage-1 pixels passes fp16's largest value (65504); before the reductions were moved to fp32 every logit
came out NaN. The test uses the session's trained fusion model (realistic activations, not random weights) on
synthetic scenes rendered at 480x640, and first proves that the overflow regime is really reached.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rxssnet_core.data.synthetic import generate_scene
from rxssnet_core.models.checkpoints import load_model
from rxssnet_core.models.convnextv2_encoder import GlobalResponseNorm
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


def test_the_inputs_reach_the_fp16_overflow_regime(model_and_inputs):
    """Without this, the parity tests below could pass on inputs too small to overflow (as 96x128 did)."""
    model, rgb, x = model_and_inputs
    largest = []

    def record(module, inputs, output):
        activations = inputs[0].float()
        largest.append(float(activations.square().sum(dim=module.spatial_dim).max()))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, GlobalResponseNorm)]
    try:
        with torch.no_grad():
            model(rgb[:1], x[:1])
    finally:
        for hook in hooks:
            hook.remove()
    assert hooks, "the model has no GlobalResponseNorm"
    assert max(largest) > FP16_MAX, f"largest GRN sum of squares {max(largest):.0f} stays within fp16"


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

