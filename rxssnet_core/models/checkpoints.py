# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Weights on disk: our format, the official ConvNeXt V2 ImageNet files, and the authors' RXSSNet checkpoints.

Nothing here unpickles code: torch files are read with `weights_only=True`, and `.safetensors` files by safetensors.
No load is silently partial: every key is either used, or dropped for a stated reason, or an error.
Importing this module does not import torch: the robot's runtime reads a checkpoint's description (config,
metadata, weights hash) with `read_description`, from the safetensors JSON header alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import safe_open

from rxssnet_core.config import ENCODER_VARIANTS, ModelConfig
from rxssnet_core.data.registry import get_info
from rxssnet_core.errors import CheckpointError
from rxssnet_core.files import atomic_save
from rxssnet_core.inference.artifacts import SAFETENSORS_FORMAT, checkpoint_description
from rxssnet_core.preprocessing import PreprocessConfig
from rxssnet_core.visualization import as_palette

if TYPE_CHECKING:  # torch is imported where weights are read or built, never by importing this module
    import torch
    from torch import nn

    from rxssnet_core.models.rxssnet import RXSSNet

FORMAT_NAME = SAFETENSORS_FORMAT
MFNET = get_info("mfnet")  # the dataset of the authors' released checkpoints
FORMAT_VERSION = 1
SAFETENSORS_SUFFIXES = (".safetensors",)


# --------------------------------------------------------------------------------------------------- file access
def read_description(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """{"model_config", "metadata", "weights_sha256"} of a `.safetensors` checkpoint without torch (None for `.pt`,
    which only torch can read).
    """
    return checkpoint_description(path)


def _read_tensor_file(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Returns (content, safetensors metadata). Torch files come back as the saved object."""
    # torch: reading tensors needs it; importing this module must not (the robot's runtime is torch-free)
    import torch

    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix in SAFETENSORS_SUFFIXES:
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as error:  # safetensors raises its own types for corrupt files
            raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error
        return tensors, metadata
    try:
        content = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling refuses anything but tensors and plain containers
        raise CheckpointError(
            f"{path} could not be loaded as weights only ({type(error).__name__}: {error}). Files that need "
            "arbitrary code to load (pickled models) are refused on purpose; re-save the state_dict.") from error
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, expected a dict of tensors")
    return content, {}


# --------------------------------------------------------------------------------------------------- our format
def save_model(model: RXSSNet, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> Path:
    """Writes weights plus model config (and metadata: preprocess, class_names, palette, dataset) atomically.

    `.safetensors` stores config and metadata as JSON in the header; other suffixes write a torch file that
    loads with `weights_only=True`.
    """
    # torch: writing tensors needs it; importing this module must not (the robot's runtime is torch-free)
    import torch


    path = Path(path)
    meta = dict(model.metadata if metadata is None else metadata)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    if path.suffix in SAFETENSORS_SUFFIXES:
        # safetensors.torch imports torch (see above)
        from safetensors.torch import save_file

        header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
                  "model_config": json.dumps(model.config.to_dict()), "metadata": json.dumps(meta)}
        atomic_save(lambda tmp: save_file(state, str(tmp), metadata=header), path)
    else:
        payload = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                   "model_config": model.config.to_dict(), "metadata": meta, "state_dict": state}
        atomic_save(lambda tmp: torch.save(payload, str(tmp)), path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Reads one of our checkpoints: (config, state_dict, metadata). Training checkpoints also work (key `model`)."""
    path = Path(path)
    content, header = _read_tensor_file(path)
    if header:
        if header.get("format") != FORMAT_NAME:
            raise CheckpointError(f"{path} is a safetensors file but not an RXSSNet checkpoint (no format header)")
        return (ModelConfig.from_dict(json.loads(header["model_config"])), content,
                json.loads(header.get("metadata", "{}")))
    if content.get("format") == FORMAT_NAME:
        return ModelConfig.from_dict(content["model_config"]), content["state_dict"], dict(content.get("metadata", {}))
    if isinstance(content.get("model"), dict) and content["model"].get("format") == FORMAT_NAME:
        inner = content["model"]
        return ModelConfig.from_dict(inner["model_config"]), inner["state_dict"], dict(inner.get("metadata", {}))
    if "state_dict" in content and any(key.startswith("Token_corrector.") for key in content["state_dict"]):
        raise CheckpointError(
            f"{path} is an authors' reference RXSSNet checkpoint; convert it first: "
            f"rxssnet convert-reference {path} model.safetensors [--bgr]")
    if "model" in content and any(key.startswith("stages.") for key in content["model"]):
        raise CheckpointError(
            f"{path} is an ImageNet ConvNeXt V2 backbone, not an RXSSNet; use it as model.pretrained for training")
    raise CheckpointError(f"{path} is not an RXSSNet checkpoint (keys: {sorted(content)[:8]})")


def load_model(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> RXSSNet:
    """Rebuilds the model from the file alone, strictly (every tensor present, none extra). Returns it in eval mode.

    The one loader of every entry point (Segmenter, node, eval, predict, export): a model file (`save_model`) or
    a training checkpoint (`checkpoints/last.pt`, which carries the model configuration and metadata, so a run can
    be used before it ends).
    """
    # torch: the network is built only when weights are loaded (the robot's runtime is torch-free)
    from rxssnet_core.models.rxssnet import build_model

    path = Path(path)
    if path.suffix in (".pt", ".pth") and path.is_file():
        # torch: training checkpoints are torch files
        from rxssnet_core.training.checkpointing import load_training_checkpoint

        try:
            state = load_training_checkpoint(path, map_location="cpu")
        except CheckpointError:
            state = None  # not a training checkpoint: read below as a model file, which names what is wrong
        if state is not None and state.get("model_config"):
            model = build_model(ModelConfig.from_dict(dict(state["model_config"])))
            _load_strict(model, state["model"], source=str(path))
            model.metadata = dict(state.get("metadata") or {})
            return model.to(map_location).eval()
    config, state, metadata = load_checkpoint(path)
    model = build_model(config)
    _load_strict(model, state, source=str(path))
    model.metadata = metadata
    return model.to(map_location).eval()


def _load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(key for key in set(expected) & set(state) if tuple(expected[key].shape) != tuple(state[key].shape))
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            key = wrong[0]
            details.append(f"{len(wrong)} with other shapes (e.g. {key}: file {tuple(state[key].shape)}, "
                           f"model {tuple(expected[key].shape)})")
        raise CheckpointError(f"{source} does not match the model it describes: " + "; ".join(details))
    model.load_state_dict(state, strict=True)


# --------------------------------------------------------------------------------------- ConvNeXt V2 (ImageNet)
@dataclass
class LoadReport:
    """What a partial-by-design load used and left out."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"loaded {len(self.loaded)} tensors; missing {len(self.missing)} {self.missing[:5]}; "
                f"unexpected {len(self.unexpected)} {self.unexpected[:5]}; dropped {len(self.dropped)} "
                f"({', '.join(sorted(set(self.dropped.values())))})")


def official_to_timm_key(key: str) -> str:
    """Maps a key of the official ConvNeXt V2 release (facebookresearch layout) to timm's layout."""
    key = re.sub(r"^downsample_layers\.0\.", "stem.", key)
    key = re.sub(r"^downsample_layers\.(\d+)\.(\d+)", r"stages.\1.downsample.\2", key)
    key = re.sub(r"^stages\.(\d+)\.(\d+)\.", r"stages.\1.blocks.\2.", key)
    key = key.replace(".dwconv.", ".conv_dw.")
    key = key.replace(".pwconv1.", ".mlp.fc1.").replace(".pwconv2.", ".mlp.fc2.")
    key = key.replace(".grn.gamma", ".mlp.grn.weight").replace(".grn.beta", ".mlp.grn.bias")
    return key


def _encoder_state_from_official(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                                 report: LoadReport, prefix: str = "") -> dict[str, torch.Tensor]:
    """Converts an official or timm ConvNeXt V2 state_dict to the encoder's keys and shapes."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(("head.", "norm.")):
            report.dropped[prefix + key] = "classifier head / final norm (unused by RXSSNet)"
            continue
        mapped = official_to_timm_key(key)  # idempotent on timm keys, so both layouts pass through
        if mapped not in target:
            report.unexpected.append(prefix + key)
            continue
        expected = target[mapped]
        if value.shape != expected.shape:
            if mapped == "stem.0.weight" and expected.shape[1] == 1 and value.ndim == 4 \
                    and value.shape[0] == expected.shape[0] and value.shape[2:] == expected.shape[2:]:
                # A native 1-channel X stem starts from the RGB stem summed over colour (timm's adapt_input_conv).
                value = value.sum(dim=1, keepdim=True)
            elif value.numel() == expected.numel():
                value = value.reshape(expected.shape)  # GRN (1,1,1,C) -> (C,); Linear (C,Cin) -> 1x1 conv
        if value.shape != expected.shape:
            raise CheckpointError(
                f"ConvNeXt V2 tensor {key} has shape {tuple(value.shape)} but the encoder expects "
                f"{tuple(expected.shape)} for {mapped}: the file is for another variant")
        out[mapped] = value
    return out


def load_convnextv2_pretrained(model: RXSSNet, path: str | os.PathLike[str],
                               encoders: tuple[str, ...] = ("encoder_rgb", "encoder_x")) -> LoadReport:
    """Loads an ImageNet ConvNeXt V2 file (official `{'model': ...}` or timm layout) into both encoders.

    Raises CheckpointError if no tensor matches or any matching tensor has the wrong shape; otherwise returns a
    report of missing and unexpected keys (an encoder tensor left missing is reported, never hidden).
    """
    path = Path(path)
    content, _ = _read_tensor_file(path)
    state = content.get("model", content.get("state_dict", content))
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{path} holds no state_dict (expected key 'model' or a flat dict of tensors)")
    report = LoadReport()
    for name in encoders:
        encoder = getattr(model, name)
        target = encoder.state_dict()
        converted = _encoder_state_from_official(state, target, report, prefix=f"{name}<-" if name else "")
        if not converted:
            raise CheckpointError(f"{path}: no tensor matches a ConvNeXt V2 encoder; is it a ConvNeXt V2 file?")
        missing = sorted(set(target) - set(converted))
        report.missing.extend(f"{name}.{key}" for key in missing)
        encoder.load_state_dict({**target, **converted}, strict=True)
        report.loaded.extend(f"{name}.{key}" for key in converted)
    report.unexpected = sorted(set(report.unexpected))
    return report


# ---------------------------------------------------------------------------------- authors' RXSSNet checkpoints
_REFERENCE_RULES: tuple[tuple[str, str], ...] = (
    (r"^Token_corrector\.(\d)\.proj\.", r"cgpi.\1.proj."),
    (r"^Token_corrector\.(\d)\.norm\.", r"cgpi.\1.norm."),
    (r"^Token_corrector\.(\d)\.mlla\.", r"cgpi.\1.block."),
    (r"^crossFormer\.(\d)\.patch_embed_vi\.", r"lam.\1.embed_rgb."),
    (r"^crossFormer\.(\d)\.patch_embed_ir\.", r"lam.\1.embed_x."),
    (r"^crossFormer\.(\d)\.cross\.channel_proj1\.", r"lam.\1.cross_path.channel_proj_rgb."),
    (r"^crossFormer\.(\d)\.cross\.channel_proj2\.", r"lam.\1.cross_path.channel_proj_x."),
    (r"^crossFormer\.(\d)\.cross\.cross_attn\.kv1\.", r"lam.\1.cross_path.kv_rgb."),
    (r"^crossFormer\.(\d)\.cross\.cross_attn\.kv2\.", r"lam.\1.cross_path.kv_x."),
    (r"^crossFormer\.(\d)\.cross\.end_proj1\.", r"lam.\1.cross_path.end_proj_rgb."),
    (r"^crossFormer\.(\d)\.cross\.end_proj2\.", r"lam.\1.cross_path.end_proj_x."),
    (r"^crossFormer\.(\d)\.cross\.end_proj3\.", r"lam.\1.cross_path.fuse_proj."),
    (r"^crossFormer\.(\d)\.cross\.norm1\.", r"lam.\1.cross_path.norm_rgb."),
    (r"^crossFormer\.(\d)\.cross\.norm2\.", r"lam.\1.cross_path.norm_x."),
    (r"^crossFormer\.(\d)\.cross\.norm3\.", r"lam.\1.cross_path.norm_fuse."),
    (r"^crossFormer\.(\d)\.channel_emb\.", r"lam.\1.channel_embed."),
    (r"^crossFormer\.(\d)\.norm\.", r"lam.\1.prior_norm."),
    (r"^decoder\.linear_c([234])\.proj\.", r"decoder.linear_c\1."),
    (r"^decoder\.linear_fuse(\d\d)\.", r"decoder.fuse\1."),
    (r"^decoder\.linear_pred\.", r"decoder.classifier."),
)
_REFERENCE_DROPS: tuple[tuple[str, str], ...] = (
    (r"^Token_corrector\.\d\.mlla\.attn\.rope\.rotations$", "RoPE table (recomputed for the actual input size)"),
    (r"^crossFormer\.\d\.mlp\.", "LAM mlp (never called by the reference forward)"),
    (r"^crossFormer\.\d\.norm2\.", "LAM norm2 (never called by the reference forward)"),
    (r"^decoder\.linear_c1\.", "decoder linear_c1 (never called by the reference forward)"),
    (r"^encoder_(rgb|thermal)\.norm\.", "encoder final norm (never called by the reference forward)"),
)


def reference_config(state: Mapping[str, torch.Tensor]) -> ModelConfig:
    """Infers variant, class count and decoder width from an authors' state_dict."""
    try:
        width = int(state["encoder_rgb.downsample_layers.0.0.weight"].shape[0])
        depths = tuple(
            1 + max(int(m.group(1)) for key in state
                    if (m := re.match(rf"^encoder_rgb\.stages\.{stage}\.(\d+)\.", key)))
            for stage in range(4))
        num_classes = int(state["decoder.linear_pred.weight"].shape[0])
        decoder_dim = int(state["decoder.linear_pred.weight"].shape[1])
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"not an authors' RXSSNet state_dict (missing {error})") from error
    for variant, (variant_depths, dims) in ENCODER_VARIANTS.items():
        if dims[0] == width and tuple(variant_depths) == depths:
            return ModelConfig(variant=variant, num_classes=num_classes, decoder_dim=decoder_dim, x_channels=3)
    raise CheckpointError(f"encoder width {width} and depths {depths} match no ConvNeXt V2 variant")


def map_reference_state(state: Mapping[str, torch.Tensor], model: RXSSNet
                        ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Maps every used tensor of an authors' state_dict to our keys; returns (mapped, dropped-with-reason).

    Raises CheckpointError naming every key it cannot place, and every tensor of ours left without a value.
    """
    target = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    unknown: list[str] = []
    encoder_targets = {"encoder_rgb": model.encoder_rgb.state_dict(), "encoder_thermal": model.encoder_x.state_dict()}
    for key, value in state.items():
        reason = next((why for pattern, why in _REFERENCE_DROPS if re.match(pattern, key)), None)
        if reason:
            dropped[key] = reason
            continue
        encoder = re.match(r"^(encoder_rgb|encoder_thermal)\.(.*)$", key)
        if encoder:
            ours = "encoder_rgb" if encoder.group(1) == "encoder_rgb" else "encoder_x"
            inner = official_to_timm_key(encoder.group(2))
            expected = encoder_targets[encoder.group(1)].get(inner)
            if expected is None:
                unknown.append(key)
                continue
            if value.shape != expected.shape and value.numel() == expected.numel():
                value = value.reshape(expected.shape)
            mapped[f"{ours}.{inner}"] = value
            continue
        new_key = key
        for pattern, replacement in _REFERENCE_RULES:
            if re.match(pattern, key):
                new_key = re.sub(pattern, replacement, key)
                break
        else:
            unknown.append(key)
            continue
        mapped[new_key] = value
    if unknown:
        raise CheckpointError(f"{len(unknown)} tensor(s) of the reference checkpoint have no place: {unknown[:10]}")
    missing = sorted(set(target) - set(mapped))
    extra = sorted(set(mapped) - set(target))
    shapes = sorted(key for key in set(mapped) & set(target) if mapped[key].shape != target[key].shape)
    if missing or extra or shapes:
        raise CheckpointError(
            f"reference checkpoint does not fill the model: missing {missing[:5]}, extra {extra[:5]}, "
            f"shape mismatches {[(k, tuple(mapped[k].shape), tuple(target[k].shape)) for k in shapes[:3]]}")
    return mapped, dropped


def convert_reference_checkpoint(source: str | os.PathLike[str], destination: str | os.PathLike[str],
                                 bgr: bool = False, metadata: Mapping[str, Any] | None = None
                                 ) -> tuple[RXSSNet, dict[str, str]]:
    """Converts an authors' `{'state_dict': ...}` checkpoint to our format; returns (model, dropped keys).

    bgr=True records that the weights expect BGR input, as the authors' loader fed them (spec 6.4): the
    preprocessing then reverses the channels before the ImageNet normalisation.
    """
    source = Path(source)
    content, _ = _read_tensor_file(source)
    state = content.get("state_dict", content)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: expected a dict with key 'state_dict'")
    # torch: building the network (see load_model)
    from rxssnet_core.models.rxssnet import build_model

    state = {key.removeprefix("module."): value for key, value in state.items()}
    config = reference_config(state)
    config.input_order = "bgr" if bgr else "rgb"
    model = build_model(config)
    mapped, dropped = map_reference_state(state, model)
    model.load_state_dict(mapped, strict=True)
    meta = {"preprocess": PreprocessConfig(modality="thermal", channel_order=config.input_order).to_dict(),
            "source": f"converted from authors' checkpoint {source.name}"}
    if config.num_classes == len(MFNET.class_names):  # the authors' checkpoints are MFNet models
        meta.update(class_names=list(MFNET.class_names), palette=as_palette(MFNET.palette, 9).tolist(),
                    dataset=MFNET.name)
    meta.update(metadata or {})
    model.metadata = meta
    save_model(model.eval(), destination, meta)
    return model, dropped
