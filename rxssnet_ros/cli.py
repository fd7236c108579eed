"""Entry point of the `rxssnet` command: the core commands plus the rosbag tools."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rxssnet_core.cli import main as core_main
from rxssnet_core.commands import CORE_COMMAND_MODULES

ROS_COMMAND_MODULES = ("rxssnet_ros.commands.bag",)


def main(argv: Sequence[str] | None = None) -> int:
    return core_main(argv, CORE_COMMAND_MODULES + ROS_COMMAND_MODULES)


if __name__ == "__main__":
    sys.exit(main())
