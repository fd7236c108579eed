# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Writing files safely: `atomic_save` (model files, training checkpoints, any file a crash must not truncate)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A failed write with less than this left on the disk is reported as a full disk (torch.save says only "file
# write failed"); the bytes the failed write had taken are freed by then.
LOW_DISK_BYTES = 256 * 2**20


def atomic_save(write: Callable[[Path], Any], path: Path) -> None:
    """Runs write(tmp_path) then moves the result into place, so a crash never leaves a half-written file: on any
    error the temp file is removed and the previous file at `path` is kept. A write that fails for want of disk
    space raises OSError(ENOSPC) naming `path` and the space left, whatever the writer itself raised.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(tmp_name))
        with open(tmp_name, "rb") as fd:
            os.fsync(fd.fileno())
        os.replace(tmp_name, path)
    except (OSError, RuntimeError) as error:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        free = shutil.disk_usage(path.parent).free
        if getattr(error, "errno", None) == errno.ENOSPC or free < LOW_DISK_BYTES:
            kept = f"; the previous {path.name} is kept" if path.exists() else ""
            raise OSError(errno.ENOSPC, f"cannot write {path}: the disk is full ({free / 2**20:.0f} MB free). "
                                        f"Free some space or write to another folder{kept}") from error
        raise
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    # Makes the rename itself durable; not supported on every platform (Windows), where it is skipped.
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
