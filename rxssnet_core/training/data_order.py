# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Reproducible, resumable sample order for training (`trainer.Trainer`).

The data order of an epoch is a function of (seed, epoch) (`ResumableSampler`, DistributedSampler's
permutation), and every sample is augmented under RNGs seeded from (seed, epoch, rank, position)
(`SeededSampleView`), whichever DataLoader worker loads it; so a run resumed at a position in the epoch replays
the same batches with the same random numbers.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from rxssnet_core.errors import RXSSNetError


class TrainingError(RXSSNetError, ValueError):
    """Training cannot go on (diverged loss, empty data, incompatible resume); the message says why and how."""


def sample_seed(seed: int, epoch: int, rank: int, position: int) -> int:
    """A 32-bit seed for one sample draw, independent of worker count and of where the run was resumed."""
    return int(np.random.SeedSequence([seed, epoch, rank, position]).generate_state(1)[0])


@contextlib.contextmanager
def seeded_rngs(seed: int) -> Iterator[None]:
    """Seed Python, numpy and torch (CPU) with `seed` inside the block, then restore their previous states, so
    augmentation draws neither depend on nor disturb the training RNG stream.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class SeededSampleView(Dataset):
    """Wraps a dataset so that item (index, seed) is loaded under `seeded_rngs(seed)` (see ResumableSampler)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]  # torch's Dataset does not declare __len__; ours do

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any]:
        index, seed = item
        with seeded_rngs(seed):
            sample = self.dataset[index]
        return {"rgb": sample["rgb"], "x": sample["x"], "label": sample["label"]}


class ResumableSampler(DistributedSampler):
    """DistributedSampler that yields (index, sample_seed) and can start part-way into an epoch.

    The permutation is DistributedSampler's (seeded by seed + epoch), so every rank agrees on it; `start` skips
    the samples this rank already consumed before a checkpoint.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.start = 0

    def set_start(self, position: int) -> None:
        self.start = int(position)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())
        for position in range(self.start, len(indices)):
            yield indices[position], sample_seed(self.seed, self.epoch, self.rank, position)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def worker_init(worker_id: int) -> None:
    # Each worker gets distinct, reproducible Python/numpy seeds (torch seeds workers itself); per-sample
    # seeding makes augmentation independent of this anyway.
    seed = torch.initial_seed() % (2**32)
    random.seed(seed)
    np.random.seed(seed)


def clean_worker_error(error: BaseException) -> str:
    """The original message of an exception re-raised by a DataLoader worker (which prepends the worker's
    traceback): users see "label image X has values ...", not a stack dump.
    """
    message = str(error)
    if "Original Traceback" not in message:
        return message
    marker = f"{type(error).__name__}: "
    index = message.rfind(marker)
    return message[index + len(marker):].strip() if index >= 0 else message.splitlines()[-1]


def batches(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """Iterate a loader, turning bad-data errors (ValueError subclasses, e.g. DatasetError) into TrainingError
    with the clean message that names the file.
    """
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except ValueError as error:
            raise TrainingError(clean_worker_error(error)) from None
        yield batch


def holdout_indices(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic (train, val) index split holding out `fraction` of `count` samples (at least one)."""
    order = np.random.default_rng(seed).permutation(count).tolist()
    n_val = max(1, round(count * fraction))
    if n_val >= count:
        raise TrainingError(f"dataset.val_holdout={fraction} would hold out all {count} training images")
    return sorted(order[n_val:]), sorted(order[:n_val])
