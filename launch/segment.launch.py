"""Launch segment_node (and optionally rviz2) for an RGB camera and a thermal, depth or polarization camera.

    ros2 launch rxssnet_ros segment.launch.py modality:=thermal checkpoint:=/path/to/model.safetensors \
        rgb_topic:=/camera/color/image_raw x_topic:=/thermal/image_raw use_rviz:=true

A TensorRT engine on a GPU (`engine:=` implies backend tensorrt and device cuda):

    ros2 launch rxssnet_ros segment.launch.py backend:=tensorrt engine:=model.engine checkpoint:=model.safetensors

Arguments (`ros2 launch rxssnet_ros segment.launch.py --show-args`): see LAUNCH_ARGUMENTS. The node's
parameters come from config/<modality>.yaml (or `config`), with `checkpoint`, `backend`, `device`, `precision`
and `engine` on top (a launch argument always wins over the file);
the image topics are remapped onto the node's ~/rgb/image and ~/x/image, and the camera_info topics default
to the `camera_info` next to each image topic. Unless FASTDDS_DEFAULT_PROFILES_FILE is already set, the node
gets the package's Fast DDS profile with a 32 MiB shared-memory segment (full-size images over best effort).

Failures are visible: when segment_node exits by itself with an error (e.g. a FATAL bad checkpoint), the launch
shuts down and `ros2 launch` exits non-zero; `use_rviz:=true` without rviz2 installed fails before anything
starts. Ctrl-C stops everything and exits 0.

The `launch` imports are guarded so that this file can be imported (and its arguments read) where ROS 2
launch is not installed, e.g. by the tests on a machine with the PyPI wheels only.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from rxssnet_ros.node_params import (
    BACKENDS,
    DEVICES,
    OUTPUT_RESOLUTIONS,
    PRECISIONS,
    TRANSPORTS,
    ParameterError,
    validate_values,
)

try:
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription
except ImportError:  # launch and launch_ros come with a ROS 2 install, not with the PyPI wheels
    LaunchDescription = None

PACKAGE = "rxssnet_ros"
MODALITY_CONFIGS = ("thermal", "depth", "polarization")
DEFAULT_RGB_TOPIC = "/camera/color/image_raw"
DEFAULT_X_TOPIC = "/camera/x/image_raw"

# (name, default, description): one place, read by generate_launch_description and by the tests.
LAUNCH_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    ("modality", "thermal", "X camera kind: thermal, depth or polarization; selects config/<modality>.yaml"),
    ("config", "", "Parameter file for the node (default: config/<modality>.yaml of this package)"),
    ("checkpoint", "", "RXSSNet checkpoint (.safetensors or .pt). Required"),
    ("backend", "", f"Inference backend: {', '.join(BACKENDS)} (default: the config's)"),
    ("device", "", f"Device: {', '.join(DEVICES)} (default: the config's; cuda when engine is given)"),
    ("precision", "", f"Numeric precision: {', '.join(PRECISIONS)} (default: the config's)"),
    ("engine", "", "TensorRT engine file; implies backend tensorrt and device cuda"),
    ("rgb_topic", DEFAULT_RGB_TOPIC, "RGB image topic (sensor_msgs/Image)"),
    ("x_topic", DEFAULT_X_TOPIC, "X (thermal, depth or polarization) image topic"),
    ("rgb_info_topic", "", "RGB camera_info topic (default: camera_info next to rgb_topic)"),
    ("x_info_topic", "", "X camera_info topic (default: camera_info next to x_topic)"),
    ("use_rviz", "false", "Start rviz2 showing the overlay, the coloured mask and both inputs"),
    # several rigs in one launch: each its own namespace (topics, parameters and diagnostics under it)
    ("namespace", "", "Namespace of the node, e.g. front: topics /front/segment_node/labels, ... (default: none)"),
    ("node_name", "segment_node", "Name of the node (its ~/ topics and parameters)"),
    ("use_sim_time", "false", "Use /clock (a bag played with --clock, a simulator)"),
    ("input_size", "", "Network input size HxW, the same on every backend (default: the config's, else the "
                       "checkpoint's training size); camera: each image's size (torch, onnxruntime)"),
    ("output_resolution", "", f"Size of the labels: {', '.join(OUTPUT_RESOLUTIONS)} (default: the config's)"),
    ("rgb_transport", "", "image_transport of the RGB input: raw or compressed (default: the config's)"),
    ("x_transport", "", f"image_transport of the X input: {', '.join(TRANSPORTS)} (default: the config's)"),
)
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def package_share() -> str:
    """The installed share directory of the package, or the source tree when it is not installed."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return get_package_share_directory(PACKAGE)
    except Exception:  # not installed, or AMENT_PREFIX_PATH unset (PyPI wheels): use the source tree
        return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def camera_info_topic(image_topic: str) -> str:
    """The camera_info topic next to an image topic (image_transport's convention)."""
    head, _, _ = image_topic.rstrip("/").rpartition("/")
    return f"{head}/camera_info"


def node_configuration(values: dict[str, str], share: str) -> dict[str, Any]:
    """Launch argument values -> {parameters, remappings, rviz_config, env} for the node (no launch needed).

    Raises ValueError naming the bad argument.
    """
    config = values.get("config") or ""
    if not config:
        modality = values.get("modality", "thermal")
        if modality not in MODALITY_CONFIGS:
            raise ValueError(f"launch argument modality:={modality!r} has no config file; choose one of "
                             f"{', '.join(MODALITY_CONFIGS)}, or give config:=<file.yaml>")
        config = os.path.join(share, "config", f"{modality}.yaml")
    if not os.path.isfile(config):
        raise ValueError(f"launch argument config:={config!r}: file not found")
    overrides: dict[str, Any] = {}
    if values.get("checkpoint"):
        overrides["checkpoint"] = values["checkpoint"]
    for name, choices in (("backend", BACKENDS), ("device", DEVICES), ("precision", PRECISIONS)):
        if values.get(name):
            if values[name] not in choices:
                raise ValueError(f"launch argument {name}:={values[name]!r}: choose one of {', '.join(choices)}")
            overrides[name] = values[name]
    if values.get("engine"):  # a TensorRT engine runs on the GPU only
        if overrides.setdefault("backend", "tensorrt") != "tensorrt":
            raise ValueError(f"launch argument engine:= is a TensorRT engine, but backend:={overrides['backend']}: "
                             "drop backend:= or set backend:=tensorrt")
        if overrides.setdefault("device", "cuda") != "cuda":
            raise ValueError(f"launch argument engine:= runs on CUDA only, but device:={overrides['device']}: drop "
                             "device:= or set device:=cuda")
        overrides["engine_path"] = values["engine"]
    for name in ("input_size", "output_resolution", "rgb_transport", "x_transport"):
        if values.get(name):
            overrides[name] = values[name]
    use_sim_time = (values.get("use_sim_time") or "false").lower()
    if use_sim_time not in BOOLEANS:
        raise ValueError(f"launch argument use_sim_time:={values['use_sim_time']!r}: true or false")
    if BOOLEANS[use_sim_time]:
        overrides["use_sim_time"] = True
    try:  # a bad value stops the launch before any process starts, with the node's own message
        validate_values({k: v for k, v in overrides.items() if k != "use_sim_time"}
                        | {"checkpoint": overrides.get("checkpoint", "unchecked")}, check_files=False)
    except ParameterError as error:
        raise ValueError(f"launch argument {error.name}:= {error}") from None
    rgb_topic = values.get("rgb_topic") or DEFAULT_RGB_TOPIC
    x_topic = values.get("x_topic") or DEFAULT_X_TOPIC
    remappings = [
        ("~/rgb/image", rgb_topic),
        ("~/x/image", x_topic),
        ("~/rgb/camera_info", values.get("rgb_info_topic") or camera_info_topic(rgb_topic)),
        ("~/x/camera_info", values.get("x_info_topic") or camera_info_topic(x_topic)),
    ]
    env = {}
    if not os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = os.path.join(share, "config", "fastdds_large_images.xml")
    return {"parameters": [config, overrides] if overrides else [config], "remappings": remappings,
            "rviz_config": rviz_config(share, rgb_topic, x_topic), "env": env,
            "namespace": values.get("namespace") or "", "name": values.get("node_name") or "segment_node"}


def rviz_config(share: str, rgb_topic: str, x_topic: str) -> str:
    """config/rviz/segment.rviz, with the input displays pointed at the actual topics (a temporary copy)."""
    path = os.path.join(share, "config", "rviz", "segment.rviz")
    if (rgb_topic, x_topic) == (DEFAULT_RGB_TOPIC, DEFAULT_X_TOPIC):
        return path
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    text = text.replace(f"Value: {DEFAULT_RGB_TOPIC}", f"Value: {rgb_topic}")
    text = text.replace(f"Value: {DEFAULT_X_TOPIC}", f"Value: {x_topic}")
    with tempfile.NamedTemporaryFile("w", suffix=".rviz", delete=False, encoding="utf-8") as out:
        out.write(text)
    return out.name


def rviz2_installed() -> bool:
    """Whether `Node(package="rviz2", executable="rviz2")` can start: the package and its executable exist."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:  # no ament index (PyPI wheels without a workspace): no rviz2 either
        return False
    try:
        prefix = get_package_prefix("rviz2")
    except (PackageNotFoundError, ValueError, LookupError):
        return False
    return os.access(os.path.join(prefix, "lib", "rviz2", "rviz2"), os.X_OK)


def _on_node_exit(event: Any, context: Any) -> list[Any]:
    """segment_node ended: stop the launch; an error exit that nobody asked for makes `ros2 launch` fail."""
    if event.returncode != 0 and not context.is_shutdown:
        # an exception in an event handler is how launch returns a non-zero exit code
        raise RuntimeError(f"segment_node exited with code {event.returncode} (see its FATAL/ERROR lines above)")
    return [Shutdown(reason=f"segment_node exited with code {event.returncode}")]


def _launch_setup(context: Any) -> list[Any]:
    values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    setup = node_configuration(values, package_share())
    use_rviz = values["use_rviz"].lower() in ("true", "1", "yes")
    if use_rviz and not rviz2_installed():  # checked before any process starts: nothing is left running
        raise RuntimeError("use_rviz:=true, but rviz2 is not installed (no rviz2 package on AMENT_PREFIX_PATH): "
                           "install it (apt install ros-$ROS_DISTRO-rviz2) or launch with use_rviz:=false")
    actions = [Node(package=PACKAGE, executable="segment_node", name=setup["name"], namespace=setup["namespace"],
                    output="screen", parameters=setup["parameters"], remappings=setup["remappings"],
                    additional_env=setup["env"], on_exit=_on_node_exit)]
    if use_rviz:
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", namespace=setup["namespace"],
                            output="screen", arguments=["-d", setup["rviz_config"]]))
    return actions


def generate_launch_description() -> Any:
    """The LaunchDescription: the declared arguments, then the node (and rviz2) built from their values."""
    if LaunchDescription is None:
        raise RuntimeError(
            "segment.launch.py needs the ROS 2 `launch` and `launch_ros` packages (a ROS 2 installation). "
            "Without them start the node directly: python -m rxssnet_ros.segment_node --ros-args "
            "--params-file config/thermal.yaml -p checkpoint:=/path/to/model.safetensors")
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in LAUNCH_ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_setup)])
