# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet train`: train RXSSNet with the reference recipe from a YAML config (resumable, DDP via torchrun), or
fine-tune a checkpoint (`--init-from`, training/finetune.py).
"""

from __future__ import annotations

import argparse
import sys

from rxssnet_core.training.config import load_train_config
from rxssnet_core.training.distributed import cleanup_distributed
from rxssnet_core.training.trainer import Trainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="YAML",
                        help="training config, e.g. config/train/mfnet.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set dataset.root=/data/MFNet --set optimizer.lr=1e-4 "
                             "(repeatable)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="PATH",
                        help="continue from a training checkpoint (default: <output-dir>/checkpoints/last.pt)")
    parser.add_argument("--output-dir", default=None, metavar="DIR",
                        help="where checkpoints, logs and exported models go (default: config output_dir)")
    parser.add_argument("--init-from", default=None, metavar="CKPT",
                        help="fine-tune this checkpoint (config key model.init_from): its network, classes, palette "
                             "and preprocessing are kept; mix in the original data with dataset.replay.share")
    parser.add_argument("--device", default=None, choices=("cpu", "cuda"),
                        help="training device (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    config = load_train_config(args.config, args.overrides)
    if args.init_from:
        config.model.init_from = args.init_from
        config.validate()
    try:
        trainer = Trainer(config, output_dir=args.output_dir, resume=args.resume, device=args.device,
                          config_path=args.config)
        result = trainer.fit()
    finally:
        cleanup_distributed()
    if trainer.dist.is_main:
        print(f"trained {result.global_step} steps ({result.epoch} epochs) into {result.output_dir}")
        if result.best_miou is not None:
            print(f"best validation mIoU {result.best_miou * 100:.2f}% at epoch {result.best_epoch}: "
                  f"{result.best_path}")
        if result.final_path is not None:
            print(f"final model: {result.final_path}")
        if trainer.parent is not None:
            print(f"fine-tuned from {trainer.parent.path} (sha256 {trainer.parent.sha256[:12]}...), "
                  f"{trainer.replay_samples} replayed original samples")
        sys.stdout.flush()
    return 0
