# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Training configuration: a YAML file of sections, checked key by key.

Unknown keys and wrong types raise `TrainConfigError` naming the dotted key (``train.batch_sise``) and the
accepted keys, so a typo never silently falls back to a default. `--set section.key=value` overrides use the
same checks. Defaults are the reference recipe, reconstructed from the authors' sister repositories (their RXSSNet
release ships no training code).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rxssnet_core.config import ConfigError
from rxssnet_core.degradation import RGB_DEGRADATIONS, X_DEGRADATIONS
from rxssnet_core.evaluation import INFERENCE_MODES

# A split with this name holds the benchmark's test data; selecting checkpoints on it inflates the results.
TEST_SPLIT_NAMES = ("test",)
AMP_MODES = ("auto", "off", "fp16", "bf16")
# Placeholder the shipped configs carry: the user must point dataset.root at their copy.
ROOT_PLACEHOLDER_PREFIX = "/path/to/"
# Our recipe's modality dropout (off in the paper's): the fractions of training samples that lose X, or RGB.
DEFAULT_X_DROPOUT_RATE = 0.25
DEFAULT_RGB_DROPOUT_RATE = 0.2


class TrainConfigError(ConfigError):
    """A training configuration value is invalid; the message names the key and the fix."""


@dataclass
class ReplaySection:
    """Fine-tuning without forgetting: `share` (in [0, 1)) of each epoch's samples are drawn, once and seeded,
    from the original data (`name`: default the dataset model.init_from was trained on, else dataset.name; `root`,
    `split`); 0: off. See training/finetune.py.
    """

    name: str = ""
    root: str = ""
    split: str = "train"
    share: float = 0.0


@dataclass
class DatasetSection:
    """Which data to train on. root: dataset folder (the shipped configs hold a placeholder you must replace).
    val_split: split used for model selection (null: hold out `val_holdout` of train_split instead).
    preprocess: overrides of the dataset's default PreprocessConfig (e.g. {channel_order: bgr}).
    replay: a share of the original data mixed in when fine-tuning (ReplaySection).
    """

    name: str = ""
    root: str = ""
    train_split: str = "train"
    val_split: str | None = "val"
    val_holdout: float = 0.0
    preprocess: dict[str, Any] = field(default_factory=dict)
    replay: ReplaySection = field(default_factory=ReplaySection)


@dataclass
class ModelSection:
    """Network options (ModelConfig fields; num_classes, x_channels and input_order come from the dataset and
    its preprocessing). pretrained: path to an official ConvNeXt V2 ImageNet checkpoint for both encoders.
    init_from: an RXSSNet checkpoint to fine-tune (`rxssnet train --init-from`): its network, weights, classes,
    palette and preprocessing are kept, and the other keys of this section are ignored.
    """

    variant: str = "tiny"
    decoder_dim: int | None = None
    dropout: float = 0.1
    drop_path_rate: float = 0.0
    x_stem: str = "replicate"
    pretrained: str | None = None
    init_from: str | None = None


@dataclass
class OptimizerSection:
    """AdamW over all parameters in one group (the reference does not exempt norms or biases)."""

    lr: float = 6e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.01
    grad_clip_norm: float | None = None


@dataclass
class ScheduleSection:
    """Per-iteration linear warm-up over `warmup_epochs`, then lr * (1 - t/T)^power until `epochs` end."""

    epochs: int = 300
    warmup_epochs: float = 10.0
    power: float = 0.9


@dataclass
class ModalityDropoutSection:
    """Training for a failed camera: on by default (our recipe); the paper's recipes config/train/<dataset>.yaml set
    both rates to 0, as the paper trained. Per sample,
    with probability x_rate X gets one of x_kinds (x_missing: the neutral X the node feeds when X is gone;
    x_blank: an all-black X; x_noise: + Gaussian noise_std; x_shift: moved by up to shift_px pixels, a bad
    extrinsic), else with probability rgb_rate RGB gets one of rgb_kinds (rgb_missing: black, night).
    Definitions: rxssnet_core/degradation.py, shared with `rxssnet eval --degraded-modes` and the node.
    """

    x_rate: float = DEFAULT_X_DROPOUT_RATE
    rgb_rate: float = DEFAULT_RGB_DROPOUT_RATE
    x_kinds: list[str] = field(default_factory=lambda: ["x_missing"])
    rgb_kinds: list[str] = field(default_factory=lambda: ["rgb_missing"])
    noise_std: float = 0.5
    shift_px: int = 8


@dataclass
class TrainSection:
    """Batching, augmentation, precision and seeding. batch_size is per process; the effective batch is
    batch_size * grad_accum_steps * world_size. crop_size: [H, W] random crop (null: no crop; then images
    must share one size to be batched). amp: auto (fp16 + GradScaler on CUDA, fp32 on CPU) | off | fp16 | bf16.
    deterministic: deterministic cuDNN kernels (CPU runs are reproducible without it).
    modality_dropout: degrade X or RGB on a fraction of samples (ModalityDropoutSection; on by default, off in
    the paper's recipes).
    """

    batch_size: int = 4
    grad_accum_steps: int = 1
    crop_size: list[int] | None = field(default_factory=lambda: [480, 640])
    scales: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.0, 1.25, 1.5, 1.75])
    hflip: bool = True
    num_workers: int = 2
    amp: str = "auto"
    seed: int = 0
    deterministic: bool = False
    modality_dropout: ModalityDropoutSection = field(default_factory=ModalityDropoutSection)


@dataclass
class ValSection:
    """Validation after every `every_n_epochs` epochs (0: never), one full-size image at a time with
    inference `mode` (single | multiscale | sliding); the best mIoU on dataset.val_split is exported.
    Naming a split called "test" is refused unless `unsafe_select_on_test_split` is true, because picking
    the checkpoint on test data makes the reported test score optimistic (the reference does this).
    """

    every_n_epochs: int = 1
    mode: str = "single"
    unsafe_select_on_test_split: bool = False


@dataclass
class CheckpointSection:
    """A resumable training-state checkpoint every `every_n_steps` optimizer steps (0: only at epoch ends)."""

    every_n_steps: int = 1000


@dataclass
class LoggingSection:
    tensorboard: bool = True
    progress: bool = True
    log_every_n_steps: int = 10


@dataclass
class TrainConfig:
    """The whole training configuration (see config/train/*.yaml)."""

    dataset: DatasetSection = field(default_factory=DatasetSection)
    model: ModelSection = field(default_factory=ModelSection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    train: TrainSection = field(default_factory=TrainSection)
    val: ValSection = field(default_factory=ValSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    output_dir: str = "runs/train"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Range checks across sections; raises TrainConfigError naming the key."""
        checks: list[tuple[bool, str]] = [
            (bool(self.dataset.name), "dataset.name must be set (a name from `rxssnet datasets list`)"),
            (0.0 <= self.dataset.val_holdout < 1.0, "dataset.val_holdout must be in [0, 1)"),
            (0.0 <= self.dataset.replay.share < 1.0, "dataset.replay.share must be in [0, 1) (0: no replay)"),
            (self.dataset.replay.share == 0 or bool(self.dataset.replay.root),
             "dataset.replay.share > 0 needs dataset.replay.root (the original training data)"),
            (not (self.model.init_from and self.model.pretrained),
             "model.init_from and model.pretrained exclude each other (init_from already holds both encoders)"),
            (not (self.model.init_from and self.dataset.preprocess),
             "dataset.preprocess cannot change the preprocessing of model.init_from (fine-tuning keeps it)"),
            (self.optimizer.lr > 0, "optimizer.lr must be > 0"),
            (len(self.optimizer.betas) == 2 and all(0 <= b < 1 for b in self.optimizer.betas),
             "optimizer.betas must be two numbers in [0, 1)"),
            (self.optimizer.weight_decay >= 0, "optimizer.weight_decay must be >= 0"),
            (self.schedule.epochs >= 1, "schedule.epochs must be >= 1"),
            (0 <= self.schedule.warmup_epochs <= self.schedule.epochs,
             "schedule.warmup_epochs must be in [0, schedule.epochs]"),
            (self.schedule.power > 0, "schedule.power must be > 0"),
            (self.train.batch_size >= 1, "train.batch_size must be >= 1"),
            (self.train.grad_accum_steps >= 1, "train.grad_accum_steps must be >= 1"),
            (self.train.crop_size is None or (len(self.train.crop_size) == 2 and min(self.train.crop_size) >= 1),
             "train.crop_size must be [height, width] or null"),
            (len(self.train.scales) >= 1 and min(self.train.scales) > 0,
             "train.scales must be a non-empty list of positive numbers"),
            (self.train.num_workers >= 0, "train.num_workers must be >= 0"),
            (self.train.amp in AMP_MODES, f"train.amp must be one of {AMP_MODES}"),
            (self.val.every_n_epochs >= 0, "val.every_n_epochs must be >= 0"),
            (self.val.mode in INFERENCE_MODES, f"val.mode must be one of {INFERENCE_MODES}"),
            (self.checkpoint.every_n_steps >= 0, "checkpoint.every_n_steps must be >= 0"),
            (self.logging.log_every_n_steps >= 1, "logging.log_every_n_steps must be >= 1"),
            (self.optimizer.grad_clip_norm is None or self.optimizer.grad_clip_norm > 0,
             "optimizer.grad_clip_norm must be > 0 or null"),
        ]
        checks += self.modality_dropout_checks()
        for ok, message in checks:
            if not ok:
                raise TrainConfigError(message)
        self.check_val_split()

    def modality_dropout_checks(self) -> list[tuple[bool, str]]:
        drop = self.train.modality_dropout
        key = "train.modality_dropout"
        return [
            (0.0 <= drop.x_rate <= 1.0, f"{key}.x_rate={drop.x_rate} must be a fraction in [0, 1]"),
            (0.0 <= drop.rgb_rate <= 1.0, f"{key}.rgb_rate={drop.rgb_rate} must be a fraction in [0, 1]"),
            (drop.x_rate + drop.rgb_rate <= 1.0,
             f"{key}.x_rate + {key}.rgb_rate = {drop.x_rate + drop.rgb_rate:g} must be <= 1 (a sample never "
             "loses both inputs); lower one of them"),
            (bool(drop.x_kinds) and set(drop.x_kinds) <= set(X_DEGRADATIONS),
             f"{key}.x_kinds={drop.x_kinds} must be a non-empty list of {', '.join(X_DEGRADATIONS)}"),
            (bool(drop.rgb_kinds) and set(drop.rgb_kinds) <= set(RGB_DEGRADATIONS),
             f"{key}.rgb_kinds={drop.rgb_kinds} must be a non-empty list of {', '.join(RGB_DEGRADATIONS)}"),
            (drop.noise_std >= 0, f"{key}.noise_std={drop.noise_std} must be >= 0"),
            (drop.shift_px >= 0, f"{key}.shift_px={drop.shift_px} must be >= 0"),
        ]

    def check_val_split(self) -> None:
        """Refuse model selection on a test split unless explicitly and scarily allowed."""
        split = self.dataset.val_split
        if split is None or self.val.every_n_epochs == 0 or self.val.unsafe_select_on_test_split:
            return
        if split.lower() in TEST_SPLIT_NAMES or split.lower().startswith("test"):
            raise TrainConfigError(
                f"dataset.val_split={split!r} selects the best checkpoint on test data, which inflates the test "
                "score (the reference code's flaw). Use a validation split, or dataset.val_split: null with "
                "dataset.val_holdout: 0.1 to hold out part of the training split. To do it anyway set "
                "val.unsafe_select_on_test_split: true")
        if split == self.dataset.train_split and self.val.every_n_epochs:
            raise TrainConfigError(
                f"dataset.val_split={split!r} equals dataset.train_split: model selection would use training "
                "images; use another split or dataset.val_split: null with dataset.val_holdout")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a nested dict; unknown keys and wrong types raise TrainConfigError naming the key."""
        return _build(cls, data, prefix="", source=source)


_SECTION_TYPES = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


def _describe(type_hint: Any) -> str:
    if isinstance(type_hint, type):
        return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(
            type_hint.__name__, type_hint.__name__)
    return str(type_hint).replace("typing.", "")


def _coerce(value: Any, type_hint: Any, key: str, source: str) -> Any:
    """Check (and gently convert) one YAML value against a type hint."""
    origin = typing.get_origin(type_hint)
    args = typing.get_args(type_hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, source)
    if type_hint is bool:
        if isinstance(value, bool):
            return value
    elif type_hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif type_hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "6e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif type_hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is list:
        if isinstance(value, (list, tuple)):
            return [_coerce(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
        if value is None:
            return {}
    hint = ""
    if type_hint is str and isinstance(value, bool):
        hint = " (YAML reads unquoted off/on/yes/no as booleans: quote the value, e.g. \"off\")"
    raise TrainConfigError(f"{source}: {key}={value!r} must be {_describe(type_hint)}{hint}")


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TrainConfigError(f"{source}: {prefix.rstrip('.') or 'the file'} must be a mapping of keys, got "
                               f"{type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            raise TrainConfigError(
                f"{source}: unknown key '{prefix}{key}'; known keys{' in ' + prefix.rstrip('.') if prefix else ''}:"
                f" {', '.join(known)}")
    kwargs: dict[str, Any] = {}
    for name in known:
        if name not in data:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, data[name], prefix=f"{prefix}{name}.", source=source)
        else:
            kwargs[name] = _coerce(data[name], hint, f"{prefix}{name}", source)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """"section.key=value" -> (["section", "key"], value parsed as YAML)."""
    if "=" not in text:
        raise TrainConfigError(f"--set {text!r} must look like section.key=value (e.g. optimizer.lr=1e-4)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise TrainConfigError(f"--set {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise TrainConfigError(f"--set {text!r}: value is not valid YAML ({error})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to a raw config dict (key checks happen when the config is built)."""
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise TrainConfigError(f"--set {text!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a training YAML, apply `section.key=value` overrides, and validate everything."""
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"training config {path} does not exist (see config/train/*.yaml)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise TrainConfigError(f"training config {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise TrainConfigError(f"training config {path} must be a mapping of sections, got {type(data).__name__}")
    data = apply_overrides(data, list(overrides or []))
    return TrainConfig.from_dict(data, source=str(path))


def check_dataset_root(config: TrainConfig, config_path: str | Path | None = None) -> Path:
    """The dataset root as a Path; a placeholder or a missing folder raises TrainConfigError with the fix."""
    root = config.dataset.root
    where = f" in {config_path}" if config_path else ""
    fix = (f"set dataset.root{where} to your copy of the {config.dataset.name} dataset, or pass "
           f"--set dataset.root=/data/{config.dataset.name}")
    if not root or root.startswith(ROOT_PLACEHOLDER_PREFIX):
        raise TrainConfigError(f"dataset.root is the placeholder {root!r}: {fix}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise TrainConfigError(f"dataset.root {str(path)!r} does not exist or is not a folder: {fix}")
    return path
