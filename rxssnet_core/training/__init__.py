# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Training: the recipe (`Trainer`), its YAML configuration, schedule, checkpoints and DDP helpers.

Multi-GPU / multi-node: `torchrun --nproc_per_node N -m rxssnet_core.cli train --config CONFIG`.
"""

from rxssnet_core.training.checkpointing import CheckpointError, atomic_torch_save, load_training_checkpoint
from rxssnet_core.training.config import TrainConfig, TrainConfigError, load_train_config
from rxssnet_core.training.data_order import TrainingError
from rxssnet_core.training.schedule import WarmupPolyLR, warmup_poly_factor
from rxssnet_core.training.trainer import Trainer, TrainResult

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "WarmupPolyLR",
    "atomic_torch_save",
    "load_train_config",
    "load_training_checkpoint",
    "warmup_poly_factor",
]
