# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Training-state checkpoints: atomic writes, weights_only loading, exact RNG capture.

A checkpoint is a dict of tensors and primitives only (so `torch.load(weights_only=True)` reads it): model,
optimizer, scheduler and GradScaler state, the torch/CUDA/numpy/Python RNG states as tensors, and the position
in the data order. Writes go through `rxssnet_core.files.atomic_save` (temporary file, fsync, `os.replace`): a
crash or a failing write leaves the previous checkpoint untouched.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rxssnet_core.errors import CheckpointError
from rxssnet_core.files import atomic_save

CHECKPOINT_FORMAT = "rxssnet-train-state"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("format", "version", "model", "optimizer", "scheduler", "rng", "progress")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save through `atomic_save`: readers see the old or the new file, never a partial one; on any error
    the old file is kept (a full disk is reported as such).
    """
    path = Path(path)
    atomic_save(lambda tmp: torch.save(obj, str(tmp)), path)
    return path


def load_training_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and sanity-check a training checkpoint written by `atomic_torch_save` (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"training checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated or foreign files raise many different errors
        raise CheckpointError(f"training checkpoint {path} cannot be read ({type(error).__name__}: {error}); "
                              "it is corrupt or not a training checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an rxssnet training checkpoint (no format={CHECKPOINT_FORMAT!r}); "
                              "to start from exported weights use model.pretrained or `rxssnet eval`")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"training checkpoint {path} lacks {missing}")
    if int(state["version"]) > CHECKPOINT_VERSION:
        raise CheckpointError(f"training checkpoint {path} has version {state['version']}, newer than this code "
                              f"({CHECKPOINT_VERSION}); update rxssnet")
    return state


# ----------------------------------------------------------------------------------------------- RNG states


def capture_rng_state() -> dict[str, Any]:
    """Torch (CPU and every CUDA device), numpy and Python `random` states as tensors and primitives."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64).copy()),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_cached_gaussian": float(np_state[4]),
        "python_version": int(py_version),
        "python_internal": torch.tensor(py_internal, dtype=torch.int64),
        "python_gauss": py_gauss,
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    np.random.set_state((
        "MT19937",
        state["numpy_keys"].cpu().numpy().astype(np.uint32),
        int(state["numpy_pos"]),
        int(state["numpy_has_gauss"]),
        float(state["numpy_cached_gaussian"]),
    ))
    internal = tuple(int(v) for v in state["python_internal"].tolist())
    gauss = state["python_gauss"]
    random.setstate((int(state["python_version"]), internal, None if gauss is None else float(gauss)))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu().to(torch.uint8) for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
