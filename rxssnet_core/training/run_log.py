# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a training run writes as it goes (rank 0): train_log.jsonl and TensorBoard scalars.

train_log.jsonl holds one JSON object per step, epoch end and validation; after a resume the steps replayed
from the checkpoint appear twice and the later line wins. TensorBoard (optional) purges the events past the
resumed step, so its curves do not fold back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rxssnet_core.training.config import TrainConfigError


class RunLog:
    """Append-only run log; every method is a no-op until `open` (ranks other than 0 never open it)."""

    def __init__(self) -> None:
        self._file: Any = None
        self._writer: Any = None

    def open(self, output_dir: Path, tensorboard: bool, resumed_step: int) -> None:
        """Append to `output_dir`/train_log.jsonl; with `tensorboard`, also write `output_dir`/tensorboard."""
        self._file = open(output_dir / "train_log.jsonl", "a", buffering=1)  # noqa: SIM115 (closed by close())
        if tensorboard:
            try:  # tensorboard: optional (requirements/train.txt); only logging.tensorboard needs it
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise TrainConfigError("logging.tensorboard is true but the tensorboard package is missing: "
                                       "pip install tensorboard, or set logging.tensorboard: false") from None
            self._writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"),
                                         purge_step=resumed_step + 1 if resumed_step else None)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def record(self, record: dict[str, Any]) -> None:
        """One line of train_log.jsonl."""
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")

    def scalar(self, tag: str, value: float, step: int) -> None:
        """One TensorBoard point (when TensorBoard is on)."""
        if self._writer is not None:
            self._writer.add_scalar(tag, value, step)
