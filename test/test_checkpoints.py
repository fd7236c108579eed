# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Checkpoints: our format round trip, official ConvNeXt V2 files, and the authors' RXSSNet checkpoints."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import timm
import torch

from rxssnet_core import ModelConfig, build_model, load_model, save_model
from rxssnet_core.cli import main as cli_main
from rxssnet_core.models.checkpoints import (
    CheckpointError,
    convert_reference_checkpoint,
    load_checkpoint,
    load_convnextv2_pretrained,
)

sys.path.insert(0, str(Path(__file__).parent))
from reference_rxssnet import ConvNeXtV2, ReferenceRXSSNet, randomize_

TSV = Path(__file__).parent / "data" / "rxssnet_reference_state_dict.tsv"
ATTO = {"depths": (2, 2, 6, 2), "dims": (40, 80, 160, 320)}


def small_model(**overrides):
    torch.manual_seed(0)
    return build_model(ModelConfig(**{"variant": "atto", "num_classes": 4, "decoder_dim": 16, **overrides}))


def reference_layout() -> dict[str, tuple[tuple[int, ...], str]]:
    layout = {}
    for line in TSV.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, shape, dtype = line.split("\t")
        layout[name] = (tuple(int(v) for v in shape.strip("()").split(",") if v.strip()), dtype)
    return layout


# -------------------------------------------------------------------------------------------------- our format
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_round_trip_rebuilds_model_from_file_alone(tmp_path, suffix):
    model = small_model(x_channels=1).eval()
    meta = {"class_names": ["a", "b", "c", "d"], "dataset": "x", "preprocess": {"modality": "thermal"}}
    path = save_model(model, tmp_path / f"m{suffix}", meta)
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.metadata == meta and not loaded.training
    rgb, x = torch.randn(1, 3, 50, 70), torch.randn(1, 1, 50, 70)
    with torch.no_grad():
        logits = loaded(rgb, x)
        torch.testing.assert_close(logits, model(rgb, x), atol=0, rtol=0)
    assert logits.shape == (1, 4, 50, 70)


def test_top_level_load_model_is_exported(tmp_path):
    import rxssnet_core

    path = save_model(small_model(), tmp_path / "m.safetensors", {})
    assert isinstance(rxssnet_core.load_model(path), torch.nn.Module)


def test_tampered_checkpoint_fails_loudly(tmp_path):
    model = small_model()
    payload = {"format": "rxssnet", "format_version": 1, "model_config": model.config.to_dict(), "metadata": {},
               "state_dict": {k: v for k, v in model.state_dict().items() if not k.startswith("decoder.")}}
    torch.save(payload, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "partial.pt")


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_objects_are_refused_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": Evil()}, handle)
    with pytest.raises(CheckpointError, match="weights only"):
        load_model(path)
    assert "code ran" not in capsys.readouterr().out


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_model(tmp_path / "junk.safetensors")
    torch.save({"model": ConvNeXtV2(3, **ATTO).state_dict()}, tmp_path / "backbone.pt")
    with pytest.raises(CheckpointError, match="pretrained"):
        load_checkpoint(tmp_path / "backbone.pt")


# ---------------------------------------------------------------------------------------- official ConvNeXt V2
def _official_file(tmp_path: Path, seed: int = 3) -> tuple[Path, ConvNeXtV2]:
    official = randomize_(ConvNeXtV2(3, **ATTO), seed=seed).eval()
    state = dict(official.state_dict())
    state["head.weight"] = torch.randn(1000, 320)
    state["head.bias"] = torch.randn(1000)
    path = tmp_path / "convnextv2_atto_1k_224_ema.pt"
    torch.save({"model": state}, path)
    return path, official


def test_official_convnextv2_checkpoint_loads_into_both_encoders(tmp_path):
    path, official = _official_file(tmp_path)
    model = small_model().eval()
    report = load_convnextv2_pretrained(model, path)
    assert report.missing == [] and report.unexpected == []
    assert any("head" in reason for reason in report.dropped.values())
    assert "grn" in str(official.state_dict().keys())
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = official(image)
        for encoder in (model.encoder_rgb, model.encoder_x):
            for ours, theirs in zip(encoder(image), expected):
                torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_timm_layout_checkpoint_loads(tmp_path):
    source = timm.create_model("convnextv2_atto", pretrained=False)
    path = tmp_path / "timm.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = small_model()
    report = load_convnextv2_pretrained(model, path)
    assert report.missing == [] and report.unexpected == []
    torch.testing.assert_close(model.encoder_x.stem[0].weight, source.stem[0].weight)


def test_native_one_channel_stem_gets_summed_rgb_stem(tmp_path):
    path, official = _official_file(tmp_path)
    model = small_model(x_channels=1, x_stem="native")
    load_convnextv2_pretrained(model, path)
    expected = official.downsample_layers[0][0].weight.sum(dim=1, keepdim=True)
    torch.testing.assert_close(model.encoder_x.stem[0].weight, expected)


def test_wrong_variant_backbone_fails_loudly(tmp_path):
    torch.save({"model": ConvNeXtV2(3, (2, 2, 6, 2), (48, 96, 192, 384)).state_dict()}, tmp_path / "femto.pt")
    with pytest.raises(CheckpointError, match="another variant"):
        load_convnextv2_pretrained(small_model(), tmp_path / "femto.pt")


# ------------------------------------------------------------------------------------ authors' RXSSNet checkpoints
def test_reference_transcription_has_exactly_the_listed_layout():
    state = ReferenceRXSSNet().state_dict()
    layout = reference_layout()
    assert set(state) == set(layout)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: shape for k, (shape, _) in layout.items()}


def _reference_file(tmp_path: Path, height: int, width: int, **arch) -> tuple[Path, ReferenceRXSSNet]:
    reference = randomize_(ReferenceRXSSNet(height, width, **arch), seed=5).eval()
    path = tmp_path / "reference.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    return path, reference


def test_reference_converter_reproduces_the_reference_forward(tmp_path):
    path, reference = _reference_file(tmp_path, 64, 96, num_classes=5, decoder_dim=48, **ATTO)
    _model, dropped = convert_reference_checkpoint(path, tmp_path / "ours.safetensors")
    assert any("RoPE" in why for why in dropped.values())
    assert {why.split(" (")[0] for why in dropped.values()} >= {"LAM mlp", "LAM norm2", "decoder linear_c1",
                                                              "encoder final norm"}
    loaded = load_model(tmp_path / "ours.safetensors")
    rgb, x = torch.randn(2, 3, 64, 96), torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = reference(rgb, x)
        ours = loaded(rgb, x)
    assert (ours - expected).abs().max() <= 1e-5
    assert (ours.argmax(1) == expected.argmax(1)).float().mean() >= 0.999


@pytest.mark.slow
def test_reference_converter_full_tiny_checkpoint_at_480x640(tmp_path):
    path, reference = _reference_file(tmp_path, 480, 640)
    model, _ = convert_reference_checkpoint(path, tmp_path / "ours.safetensors", bgr=True)
    assert model.config.variant == "tiny" and model.config.num_classes == 9
    rgb, x = torch.randn(1, 3, 480, 640), torch.randn(1, 3, 480, 640)
    with torch.no_grad():
        diff = (model.eval()(rgb, x) - reference(rgb, x)).abs().max()
    assert diff <= 1e-5


def test_reference_converter_records_bgr_order(tmp_path):
    path, _ = _reference_file(tmp_path, 64, 96, num_classes=9, decoder_dim=16, **ATTO)
    convert_reference_checkpoint(path, tmp_path / "bgr.safetensors", bgr=True)
    model = load_model(tmp_path / "bgr.safetensors")
    assert model.config.input_order == "bgr"
    assert model.metadata["preprocess"]["channel_order"] == "bgr"
    assert model.metadata["class_names"][1] == "car"


def test_reference_converter_fails_on_unknown_or_missing_tensors(tmp_path):
    reference = ReferenceRXSSNet(64, 96, num_classes=5, decoder_dim=16, **ATTO)
    state = reference.state_dict()
    torch.save({"state_dict": {**state, "crossFormer.0.extra.weight": torch.zeros(3)}}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="no place"):
        convert_reference_checkpoint(tmp_path / "extra.pth", tmp_path / "o1.safetensors")
    del state["crossFormer.2.cross.cross_attn.kv1.weight"]
    torch.save({"state_dict": state}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing"):
        convert_reference_checkpoint(tmp_path / "missing.pth", tmp_path / "o2.safetensors")
    assert not (tmp_path / "o1.safetensors").exists() and not (tmp_path / "o2.safetensors").exists()


def test_load_model_points_reference_users_to_the_converter(tmp_path):
    path, _ = _reference_file(tmp_path, 64, 96, num_classes=5, decoder_dim=16, **ATTO)
    with pytest.raises(CheckpointError, match="convert-reference"):
        load_model(path)


def test_convert_reference_command(tmp_path, capsys):
    path, _ = _reference_file(tmp_path, 64, 96, num_classes=5, decoder_dim=16, **ATTO)
    out = tmp_path / "cli.safetensors"
    assert cli_main(["convert-reference", str(path), str(out), "--bgr"]) == 0
    assert "dropped" in capsys.readouterr().out
    assert load_model(out).config.input_order == "bgr"
    assert cli_main(["convert-reference", str(path), str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_info_command_json(capsys):
    import json

    assert cli_main(["info", "--variant", "tiny", "--json"]) == 0
    parts = {row["part"]: row for row in json.loads(capsys.readouterr().out)["parts"]}
    assert parts["total"]["parameters"] == 98_663_817
    assert abs(parts["total"]["macs"] / 1e9 - 125.2) / 125.2 < 0.02  # thop reports 125.2; we also count matmuls
    assert parts["crm"]["parameters"] == 0
    assert sum(row["macs"] for name, row in parts.items() if name != "total") == parts["total"]["macs"]
