# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one base of every error a user can cause and fix: `RXSSNetError`.

Each error class of the package derives from it (and, where callers catch that today, from the built-in it
specialises: ValueError, LookupError, RuntimeError). Its message names the bad input and the fix. The `rxssnet`
command prints such an error in one line and exits 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RXSSNetError(Exception):
    """An error in what the user gave (a file, a value, a combination of options): the message says the fix."""


class UsageError(RXSSNetError, ValueError):
    """A value given to a command or function (an option, an argument, a combination of them) that cannot work."""


class CheckpointError(RXSSNetError, ValueError):
    """A model file or training checkpoint cannot be used as asked; the message names the file and what is wrong.

    One class for both (rxssnet_core.models.checkpoints, rxssnet_core.training.checkpointing), defined here so
    that neither package imports the other for it.
    """
