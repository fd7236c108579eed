# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Entry point of the `rxssnet` command: the core commands plus the rosbag tools."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rxssnet_core.cli import main as core_main
from rxssnet_core.commands import CORE_COMMANDS
from rxssnet_ros.commands import ROS_COMMANDS

COMMANDS = CORE_COMMANDS + ROS_COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    return core_main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
