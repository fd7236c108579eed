# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Model configuration: everything needed to rebuild an RXSSNet, stored inside every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rxssnet_core.errors import RXSSNetError

# ConvNeXt V2 widths and depths (timm names `convnextv2_<variant>`).
ENCODER_VARIANTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "atto": ((2, 2, 6, 2), (40, 80, 160, 320)),
    "femto": ((2, 2, 6, 2), (48, 96, 192, 384)),
    "pico": ((2, 2, 6, 2), (64, 128, 256, 512)),
    "nano": ((2, 2, 8, 2), (80, 160, 320, 640)),
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
}

# The paper's decoder width is 768 (tiny). The small variants exist for robots and CPUs, where a 768-wide
# decoder at 1/4 resolution would cost more than both encoders together.
DEFAULT_DECODER_DIM: dict[str, int] = {
    "atto": 128, "femto": 128, "pico": 256, "nano": 256, "tiny": 768, "base": 768,
}

X_STEMS = ("replicate", "native")
CHANNEL_ORDERS = ("rgb", "bgr")


class ConfigError(RXSSNetError, ValueError):
    """A configuration value is invalid; the message names the key and the accepted values."""


@dataclass
class ModelConfig:
    """What defines an RXSSNet instance.

    variant: ConvNeXt V2 size of both encoders. num_classes: K. x_channels: channels of the X tensor given to
    `forward` (1 or 3). x_stem: with x_channels=1, "replicate" copies X to 3 channels as the reference does
    (pretrained RGB stems apply), "native" builds a 1-channel X stem. input_order: channel order of the RGB
    tensor the weights expect ("bgr" for the authors' released checkpoints). decoder_dim: PLPD width
    (None: the variant's default, 768 for tiny as in the paper). dropout: Dropout2d before the classifier.
    """

    variant: str = "tiny"
    num_classes: int = 9
    x_channels: int = 3
    x_stem: str = "replicate"
    input_order: str = "rgb"
    decoder_dim: int | None = None
    dropout: float = 0.1
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.variant not in ENCODER_VARIANTS:
            raise ConfigError(
                f"model.variant={self.variant!r} is unknown; choose one of {sorted(ENCODER_VARIANTS)}")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ConfigError(f"model.num_classes={self.num_classes!r} must be a positive integer")
        if self.x_channels not in (1, 3):
            raise ConfigError(f"model.x_channels={self.x_channels!r} must be 1 or 3")
        if self.x_stem not in X_STEMS:
            raise ConfigError(f"model.x_stem={self.x_stem!r} must be one of {X_STEMS}")
        if self.x_stem == "native" and self.x_channels != 1:
            raise ConfigError("model.x_stem='native' needs model.x_channels=1 (3-channel X uses the normal stem)")
        if self.input_order not in CHANNEL_ORDERS:
            raise ConfigError(f"model.input_order={self.input_order!r} must be one of {CHANNEL_ORDERS}")
        if self.decoder_dim is None:
            self.decoder_dim = DEFAULT_DECODER_DIM[self.variant]
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout!r} must be in [0, 1)")

    @property
    def depths(self) -> tuple[int, ...]:
        return ENCODER_VARIANTS[self.variant][0]

    @property
    def dims(self) -> tuple[int, ...]:
        return ENCODER_VARIANTS[self.variant][1]

    @property
    def x_encoder_channels(self) -> int:
        """Channels entering the X encoder (after replication)."""
        return 1 if self.x_stem == "native" else 3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """The configuration stored in a checkpoint or exported file; unknown keys are refused, naming them."""
        if not data.get("extra", True):
            # model files written by 0.1.0 carry an always-empty `extra`: they must keep loading
            data = {key: value for key, value in data.items() if key != "extra"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**data)
