# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet` subcommands that belong to the ROS side (rosbag tools), registered as the core ones are
(rxssnet_core.commands): name, module, one-line help.
"""

from __future__ import annotations

from rxssnet_core.commands import Command

ROS_COMMANDS: tuple[Command, ...] = (
    Command("bag", "rxssnet_ros.commands.bag",
            "rosbag2 tools: convert a dataset split to a bag, evaluate a checkpoint on a bag, mine the frames worth "
            "labelling (no ROS needed)"),
)
