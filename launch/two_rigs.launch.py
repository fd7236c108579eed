# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Two rigs in one launch: a front thermal + colour rig and a rear RGB-D camera, each its own segment_node.

    ros2 launch rxssnet_ros two_rigs.launch.py front_checkpoint:=/models/thermal.safetensors \
        rear_checkpoint:=/models/depth.safetensors

Each rig is `segment.launch.py` with its own namespace, camera preset (config/thermal640x512_colour1920x1080.yaml,
config/rgbd_realsense_1280x720.yaml), topics and checkpoint, so topics, parameters and /diagnostics entries never
collide: /front/segment_node/labels and /rear/segment_node/labels, `ros2 param set /front/segment_node ...`. Each
include is scoped (GroupAction), so one rig's arguments never leak into the other's. A third rig is one more
entry in RIGS.

Arguments (`--show-args`): <rig>_checkpoint, <rig>_rgb_topic, <rig>_x_topic, <rig>_input_size (empty: the preset's)
per rig, and use_sim_time, backend for both.
"""

from __future__ import annotations

import os
from typing import Any

try:
    from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration

    from launch import LaunchDescription
except ImportError:  # launch comes with a ROS 2 install, not with the PyPI wheels
    LaunchDescription = None

# rig name -> (preset config file, default RGB topic, default X topic)
RIGS: dict[str, tuple[str, str, str]] = {
    "front": ("thermal640x512_colour1920x1080.yaml", "/front/colour/image_raw", "/front/thermal/image_raw"),
    "rear": ("rgbd_realsense_1280x720.yaml", "/rear/camera/color/image_raw",
             "/rear/camera/aligned_depth_to_color/image_raw"),
}
SHARED_ARGUMENTS = (("use_sim_time", "false", "Both nodes use /clock (a bag played with --clock, a simulator)"),
                    ("backend", "", "Inference backend of both nodes (default: the presets')"))


def rig_arguments(rig: str) -> list[tuple[str, str, str]]:
    """(name, default, description) of one rig's launch arguments."""
    _, rgb_topic, x_topic = RIGS[rig]
    return [(f"{rig}_checkpoint", "", f"RXSSNet checkpoint of the {rig} rig. Required"),
            (f"{rig}_rgb_topic", rgb_topic, f"RGB image topic of the {rig} rig"),
            (f"{rig}_x_topic", x_topic, f"X image topic of the {rig} rig"),
            (f"{rig}_input_size", "", f"Network input size HxW of the {rig} rig (default: its preset's)")]


def generate_launch_description() -> Any:
    if LaunchDescription is None:
        raise RuntimeError("two_rigs.launch.py needs the ROS 2 `launch` and `launch_ros` packages (a ROS 2 install)")
    here = os.path.dirname(os.path.abspath(__file__))
    share = os.path.dirname(here)
    entities: list[Any] = [DeclareLaunchArgument(name, default_value=default, description=text)
                           for name, default, text in SHARED_ARGUMENTS]
    for rig, (preset, _, _) in RIGS.items():
        entities += [DeclareLaunchArgument(name, default_value=default, description=text)
                     for name, default, text in rig_arguments(rig)]
        arguments = {"namespace": rig, "config": os.path.join(share, "config", preset),
                     "checkpoint": LaunchConfiguration(f"{rig}_checkpoint"),
                     "rgb_topic": LaunchConfiguration(f"{rig}_rgb_topic"),
                     "x_topic": LaunchConfiguration(f"{rig}_x_topic"),
                     "input_size": LaunchConfiguration(f"{rig}_input_size"),
                     "use_sim_time": LaunchConfiguration("use_sim_time"),
                     "backend": LaunchConfiguration("backend")}
        include = IncludeLaunchDescription(PythonLaunchDescriptionSource(os.path.join(here, "segment.launch.py")),
                                           launch_arguments=list(arguments.items()))
        entities.append(GroupAction([include], scoped=True))
    return LaunchDescription(entities)
