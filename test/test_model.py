# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""RXSSNet network: per-part math and shapes, any input size, gradients, determinism, traceability."""

from __future__ import annotations

import math

import pytest
import torch

from rxssnet_core import ModelConfig, build_model
from rxssnet_core.config import ConfigError
from rxssnet_core.models import CGPI, CRM, LAM, PLPD, RotaryEmbedding1d


def small_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    config = {"variant": "atto", "num_classes": 5, "decoder_dim": 32, **overrides}
    return build_model(ModelConfig(**config))


# ----------------------------------------------------------------------------------------------------------- CRM
def test_crm_identical_features_scale_rgb_by_two_and_x_by_one():
    feat = torch.randn(2, 4, 5, 6).abs() + 0.1
    rgb, x = CRM()(feat, feat.clone())
    torch.testing.assert_close(rgb, 2 * feat)
    torch.testing.assert_close(x, feat)


@pytest.mark.parametrize("kind", ["orthogonal", "anti-correlated"])
def test_crm_disagreeing_features_scale_rgb_by_one_and_x_by_two(kind):
    rgb_feat = torch.zeros(1, 3, 4, 4)
    rgb_feat[:, :, :2] = 1.0
    if kind == "orthogonal":
        x_feat = torch.zeros(1, 3, 4, 4)
        x_feat[:, :, 2:] = 1.0
    else:
        x_feat = -rgb_feat
    rgb, x = CRM()(rgb_feat, x_feat)
    torch.testing.assert_close(rgb, rgb_feat)
    torch.testing.assert_close(x, 2 * x_feat)


def test_crm_partial_agreement_uses_relu_of_cosine():
    rgb_feat = torch.tensor([[1.0, 0.0]]).reshape(1, 1, 1, 2)
    x_feat = torch.tensor([[1.0, 1.0]]).reshape(1, 1, 1, 2)
    rgb, x = CRM()(rgb_feat, x_feat)
    w = 1 / math.sqrt(2)
    torch.testing.assert_close(rgb, rgb_feat * (1 + w))
    torch.testing.assert_close(x, x_feat * (2 - w))


def test_crm_has_no_parameters():
    assert sum(p.numel() for p in CRM().parameters()) == 0
    assert sum(p.numel() for p in small_model().crm.parameters()) == 0


# ----------------------------------------------------------------------------------------------------------- RoPE
def test_rope_matches_complex_rotation_and_is_not_saved():
    rope = RotaryEmbedding1d(8)
    x = torch.randn(2, 7, 8)
    out = rope(x)
    theta = 1 / (10000 ** (torch.arange(4) / 4))
    angles = torch.arange(7)[:, None] * theta
    expected = torch.view_as_real(torch.polar(torch.ones_like(angles), angles) * torch.view_as_complex(
        x.reshape(2, 7, 4, 2))).flatten(-2)
    torch.testing.assert_close(out, expected)
    assert rope.state_dict() == {}
    # token 0 is not rotated; rotation preserves each pair's norm
    torch.testing.assert_close(out[:, 0], x[:, 0])
    torch.testing.assert_close(out.reshape(2, 7, 4, 2).norm(dim=-1), x.reshape(2, 7, 4, 2).norm(dim=-1))


def test_rope_tables_are_cached_per_token_count():
    rope = RotaryEmbedding1d(4)
    first = rope.tables(10, torch.device("cpu"), torch.float32)
    assert rope.tables(10, torch.device("cpu"), torch.float32)[0] is first[0]
    assert rope.tables(12, torch.device("cpu"), torch.float32)[0].shape == (12, 2)


# ------------------------------------------------------------------------------------------------ CGPI, LAM, PLPD
@pytest.mark.parametrize(("height", "width"), [(64, 96), (96, 64), (128, 128)])
@pytest.mark.parametrize(("dim", "stride"), [(16, 4), (32, 8), (48, 16), (64, 32)])
def test_cgpi_token_shapes(height, width, dim, stride):
    tokens = CGPI(6, dim, stride)(torch.randn(2, 6, height, width))
    assert tokens.shape == (2, math.ceil(height / stride) * math.ceil(width / stride), dim)
    assert torch.isfinite(tokens).all()


@pytest.mark.parametrize(("height", "width"), [(8, 10), (15, 20), (30, 40)])
@pytest.mark.parametrize(("dim", "heads", "kernel"), [(16, 1, 7), (32, 2, 3), (64, 8, 3)])
def test_lam_shapes(height, width, dim, heads, kernel):
    lam = LAM(dim, heads, kernel)
    rgb, x = torch.randn(2, dim, height, width), torch.randn(2, dim, height, width)
    out = lam(rgb, x, torch.randn(2, height * width, dim))
    assert out.shape == (2, dim, height, width)


def test_lam_rejects_prior_of_other_size():
    lam = LAM(16, 1, 3)
    with pytest.raises(ValueError, match="tokens"):
        lam(torch.randn(1, 16, 4, 4), torch.randn(1, 16, 4, 4), torch.randn(1, 17, 16))


def test_lam_reuses_one_layernorm_for_prior_and_output():
    lam = LAM(16, 1, 3)
    layer_norms = [m for m in lam.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert sum(1 for m in layer_norms if m is lam.prior_norm) == 1
    assert not hasattr(lam, "mlp") and not hasattr(lam, "norm2")  # dead in the reference: not built


@pytest.mark.parametrize(("height", "width"), [(64, 64), (96, 128), (480, 640)])
def test_plpd_logits_at_quarter_resolution(height, width):
    dims = (8, 16, 32, 64)
    decoder = PLPD(dims, num_classes=7, embed_dim=24)
    feats = [torch.randn(1, d, height // s, width // s) for d, s in zip(dims, (4, 8, 16, 32))]
    assert decoder(feats).shape == (1, 7, height // 4, width // 4)


# ----------------------------------------------------------------------------------------------------- the model
@pytest.mark.parametrize(("height", "width"), [(480, 640), (640, 480), (512, 512), (600, 800), (720, 1280),
                                               (481, 641)])
@pytest.mark.parametrize("batch", [1, 3])
def test_any_input_size_returns_logits_at_input_size(height, width, batch):
    model = small_model().eval()
    rgb, x = torch.randn(batch, 3, height, width), torch.randn(batch, 3, height, width)
    with torch.no_grad():
        logits = model(rgb, x)
    assert logits.shape == (batch, 5, height, width)
    assert torch.isfinite(logits).all()


def test_padding_does_not_leak_between_batch_items():
    model = small_model().eval()
    rgb, x = torch.randn(3, 3, 100, 90), torch.randn(3, 3, 100, 90)
    with torch.no_grad():
        batched = model(rgb, x)
        single = model(rgb[1:2], x[1:2])
    torch.testing.assert_close(batched[1:2], single, atol=1e-5, rtol=1e-4)


def test_tiny_parameter_count_matches_reference_minus_dead_modules():
    model = build_model(ModelConfig(variant="tiny", num_classes=9))
    total = sum(p.numel() for p in model.parameters())
    assert abs(total - 98_663_817) <= 0.001 * 98_663_817
    assert total == 98_663_817  # exactly: the reference's 100,844,361 minus its 2,180,544 unused
    assert not any("head" in name or name.endswith("norm_pre.weight") for name, _ in model.named_parameters())


def test_every_timm_grn_is_replaced_by_the_fp32_safe_one():
    """Matched by type (timm.layers.grn), not by class name: each ConvNeXt V2 block of both trunks gets ours."""
    from timm.layers.grn import GlobalResponseNorm as TimmGlobalResponseNorm

    from rxssnet_core.models.convnextv2_encoder import GlobalResponseNorm

    model = small_model()
    blocks = [m for m in model.modules() if type(m).__name__ == "ConvNeXtBlock"]
    ours = [m for m in model.modules() if isinstance(m, GlobalResponseNorm)]
    assert blocks and len(ours) == len(blocks)
    assert not any(isinstance(m, TimmGlobalResponseNorm) for m in model.modules())


def test_one_channel_x_replicated_equals_three_channel_copy():
    model3 = small_model().eval()
    model1 = small_model(x_channels=1).eval()
    model1.load_state_dict(model3.state_dict())
    rgb, x = torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model1(rgb, x), model3(rgb, x.expand(-1, 3, -1, -1)))


def test_native_one_channel_stem():
    model = small_model(x_channels=1, x_stem="native").eval()
    assert model.encoder_x.stem[0].in_channels == 1
    assert model.cgpi[0].proj.in_channels == 4
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64)).shape == (1, 5, 64, 64)


def test_wrong_x_channels_gives_clear_error():
    model = small_model()
    with pytest.raises(ValueError, match="x must be"):
        model(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="differ"):
        model(torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 32))


@pytest.mark.parametrize(("key", "value"), [("variant", "huge"), ("num_classes", 0), ("x_channels", 2),
                                            ("x_stem", "native"), ("input_order", "rbg")])
def test_bad_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        ModelConfig(**{key: value})


def test_unknown_config_key_is_refused():
    with pytest.raises(ConfigError, match="colour"):
        ModelConfig.from_dict({"variant": "atto", "colour": 1})


def test_files_with_the_old_empty_extra_field_still_load():
    config = ModelConfig.from_dict({"variant": "atto", "num_classes": 5, "extra": {}})
    assert config == ModelConfig(variant="atto", num_classes=5) and "extra" not in config.to_dict()
    with pytest.raises(ConfigError, match="extra"):
        ModelConfig.from_dict({"variant": "atto", "extra": {"something": 1}})


def test_every_parameter_receives_a_gradient():
    model = small_model().train()
    logits = model(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64))
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 5, (2, 64, 64))).backward()
    without = [name for name, p in model.named_parameters() if p.grad is None]
    assert without == []
    zero = [name for name, p in model.named_parameters() if not torch.any(p.grad != 0)]
    # GRN starts at zero so its weight's gradient is data-dependent but non-zero; everything gets signal
    assert zero == []


def test_eval_mode_is_deterministic():
    model = small_model().eval()
    rgb, x = torch.randn(1, 3, 96, 64), torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(rgb, x), model(rgb, x), atol=0, rtol=0)


def test_torch_export_traces_and_matches():
    model = small_model().eval()
    rgb, x = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    exported = torch.export.export(model, (rgb, x))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(rgb, x), model(rgb, x), atol=1e-5, rtol=1e-4)


def test_onnx_export_is_traceable(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = small_model().eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)), str(path),
                      input_names=["rgb", "x"], output_names=["logits"], opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
