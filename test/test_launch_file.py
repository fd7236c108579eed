# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""launch/segment.launch.py: importable without ROS 2 launch, declares its arguments, builds the node's
configuration; evaluated with the real `launch`/`launch_ros` (as `ros2 launch` does), the README's commands give
the node the parameters they promise; config/rviz/segment.rviz is valid rviz2 YAML showing the overlay, the mask
and both inputs. `ros2 launch` itself runs in test_ros2_launch.py."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shlex

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
REQUIRED = {"config", "modality", "rgb_topic", "x_topic", "checkpoint", "engine", "backend", "device", "precision",
            "use_rviz", "namespace", "node_name", "use_sim_time", "input_size", "rgb_transport", "x_transport"}


@pytest.fixture(scope="module")
def launch_module():
    spec = importlib.util.spec_from_file_location("segment_launch", REPO / "launch" / "segment.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_declares_the_arguments_with_descriptions(launch_module):
    names = [name for name, _, _ in launch_module.LAUNCH_ARGUMENTS]
    assert set(names) >= REQUIRED and len(names) == len(set(names))
    assert all(len(description) > 10 for _, _, description in launch_module.LAUNCH_ARGUMENTS)


def test_generate_launch_description(launch_module):
    if importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None:
        with pytest.raises(RuntimeError, match="needs the ROS 2 `launch` and `launch_ros` packages"):
            launch_module.generate_launch_description()
        return
    from launch.actions import DeclareLaunchArgument

    description = launch_module.generate_launch_description()
    declared = {entity.name for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}
    assert declared >= REQUIRED


def test_node_configuration_from_arguments(launch_module, tmp_path):
    share = str(REPO)
    defaults = {name: default for name, default, _ in launch_module.LAUNCH_ARGUMENTS}
    setup = launch_module.node_configuration({**defaults, "checkpoint": "/m.safetensors"}, share)
    assert setup["parameters"] == [str(REPO / "config" / "thermal.yaml"), {"checkpoint": "/m.safetensors"}]
    remaps = dict(setup["remappings"])
    assert remaps["~/rgb/image"] == "/camera/color/image_raw"
    assert remaps["~/rgb/camera_info"] == "/camera/color/camera_info"
    assert remaps["~/x/camera_info"] == "/camera/x/camera_info"
    assert setup["rviz_config"] == str(REPO / "config" / "rviz" / "segment.rviz")

    setup = launch_module.node_configuration(
        {**defaults, "modality": "depth", "engine": "/e.engine", "rgb_topic": "/rs/color/image_raw",
         "x_topic": "/rs/depth/image_rect_raw", "x_info_topic": "/rs/depth/info"}, share)
    assert setup["parameters"][0].endswith("config/depth.yaml")
    assert setup["parameters"][1] == {"engine_path": "/e.engine", "backend": "tensorrt", "device": "cuda"}
    assert dict(setup["remappings"])["~/x/camera_info"] == "/rs/depth/info"
    rviz = yaml.safe_load(pathlib.Path(setup["rviz_config"]).read_text())
    topics = [d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]]
    assert "/rs/color/image_raw" in topics and "/rs/depth/image_rect_raw" in topics

    with pytest.raises(ValueError, match="modality:='sonar' has no config file"):
        launch_module.node_configuration({**defaults, "modality": "sonar"}, share)
    with pytest.raises(ValueError, match="file not found"):
        launch_module.node_configuration({**defaults, "config": str(tmp_path / "none.yaml")}, share)


def test_rviz_config_shows_overlay_mask_and_inputs():
    config = yaml.safe_load((REPO / "config" / "rviz" / "segment.rviz").read_text())
    displays = config["Visualization Manager"]["Displays"]
    images = {d["Topic"]["Value"]: d for d in displays if d["Class"] == "rviz_default_plugins/Image"}
    assert {"/segment_node/overlay", "/segment_node/colored", "/camera/color/image_raw",
            "/camera/x/image_raw"} <= set(images)
    assert all(d["Enabled"] for d in images.values())
    assert images["/camera/color/image_raw"]["Topic"]["Reliability Policy"] == "Best Effort"
    assert any(d["Class"] == "rviz_default_plugins/PointCloud2" for d in displays)
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"]


def test_device_precision_and_engine_arguments(launch_module):
    share = str(REPO)
    defaults = {name: default for name, default, _ in launch_module.LAUNCH_ARGUMENTS}
    setup = launch_module.node_configuration({**defaults, "device": "cuda", "precision": "fp16"}, share)
    assert setup["parameters"][1] == {"device": "cuda", "precision": "fp16"}
    setup = launch_module.node_configuration({**defaults, "engine": "/e.engine", "precision": "int8"}, share)
    assert setup["parameters"][1] == {"backend": "tensorrt", "device": "cuda", "precision": "int8",
                                      "engine_path": "/e.engine"}
    with pytest.raises(ValueError, match="engine:= runs on CUDA only, but device:=cpu"):
        launch_module.node_configuration({**defaults, "engine": "/e.engine", "device": "cpu"}, share)
    with pytest.raises(ValueError, match="backend:=onnxruntime"):
        launch_module.node_configuration({**defaults, "engine": "/e.engine", "backend": "onnxruntime"}, share)
    with pytest.raises(ValueError, match="device:='gpu': choose one of cpu, cuda"):
        launch_module.node_configuration({**defaults, "device": "gpu"}, share)
    with pytest.raises(ValueError, match="precision:='half'"):
        launch_module.node_configuration({**defaults, "precision": "half"}, share)


def test_rig_arguments_namespace_name_sim_time_size_and_transports(launch_module):
    share = str(REPO)
    defaults = {name: default for name, default, _ in launch_module.LAUNCH_ARGUMENTS}
    setup = launch_module.node_configuration(
        {**defaults, "namespace": "front", "node_name": "seg", "use_sim_time": "true", "input_size": "384x640",
         "output_resolution": "network", "rgb_transport": "compressed", "x_transport": "compressed"}, share)
    assert (setup["namespace"], setup["name"]) == ("front", "seg")
    assert setup["parameters"][1] == {"input_size": "384x640", "output_resolution": "network",
                                      "rgb_transport": "compressed", "x_transport": "compressed",
                                      "use_sim_time": True}
    assert launch_module.node_configuration(defaults, share)["namespace"] == ""
    for name, value, match in (("input_size", "big", "input_size"), ("rgb_transport", "compressedDepth", "RGB"),
                               ("x_transport", "theora", "x_transport"), ("use_sim_time", "maybe", "true or false")):
        with pytest.raises(ValueError, match=match):
            launch_module.node_configuration({**defaults, name: value}, share)


def test_camera_presets_are_valid_node_parameters():
    from rxssnet_ros.node_params import validate_values

    for preset, size in (("rgbd_realsense_1280x720.yaml", (384, 640)),
                         ("thermal640x512_colour1920x1080.yaml", (384, 640))):
        values = yaml.safe_load((REPO / "config" / preset).read_text())["/**"]["ros__parameters"]
        settings = validate_values({**values, "checkpoint": "/m.safetensors"}, check_files=False)
        assert settings.input_size == size and settings.input_qos == "sensor_data"


def test_config_files_leave_device_and_precision_to_the_launch_arguments(launch_module):
    """The config files are loaded first and the launch arguments after them, so an argument always wins."""
    defaults = {name: default for name, default, _ in launch_module.LAUNCH_ARGUMENTS}
    for modality in launch_module.MODALITY_CONFIGS:
        config = yaml.safe_load((REPO / "config" / f"{modality}.yaml").read_text())["/**"]["ros__parameters"]
        assert config["device"] == "cpu"  # the file's default, for a machine without a GPU
        setup = launch_module.node_configuration({**defaults, "modality": modality, "device": "cuda"}, str(REPO))
        assert setup["parameters"][0].endswith(f"{modality}.yaml") and setup["parameters"][-1]["device"] == "cuda"


def readme_launch_commands() -> list[list[str]]:
    """Every `ros2 launch rxssnet_ros segment.launch.py ...` command in README.md, as argv (continuations joined)."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    return [shlex.split(line.split("#")[0]) for line in text.splitlines()
            if re.match(r"\s*ros2 launch rxssnet_ros segment\.launch\.py", line)]


def evaluate_launch(launch_module, arguments: dict[str, str]) -> dict:
    """What `ros2 launch rxssnet_ros segment.launch.py name:=value ...` hands to segment_node, with the real
    launch/launch_ros: the declared arguments, the OpaqueFunction and the Node's substitutions performed in one
    LaunchContext, then the parameter files merged in the order rcl applies them."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch_ros.actions import Node

    from launch import LaunchContext

    context = LaunchContext()
    context.launch_configurations.update(arguments)  # what ros2 launch does with name:=value
    actions = []
    for entity in launch_module.generate_launch_description().entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.execute(context)  # sets the default of an argument not given
        elif isinstance(entity, OpaqueFunction):
            actions += entity.execute(context)
    nodes = [action for action in actions if isinstance(action, Node)]
    assert len(nodes) == 1 and nodes[0].node_package == "rxssnet_ros" and nodes[0].node_executable == "segment_node"
    node = nodes[0]
    node._perform_substitutions(context)
    parameters: dict = {}
    for path, is_file in node._Node__expanded_parameter_arguments:
        assert is_file
        for key, section in yaml.safe_load(pathlib.Path(path).read_text()).items():
            if key == "/**" or key.endswith("segment_node"):  # namespace:= gives /<namespace>/segment_node
                parameters.update(section["ros__parameters"])
    remappings = dict(node._Node__expanded_remappings or [])
    return {"parameters": parameters, "remappings": remappings}


def test_readme_tensorrt_launch_command_configures_the_node_for_cuda(launch_module):
    pytest.importorskip("launch_ros")
    commands = [argv for argv in readme_launch_commands() if any(a.startswith("engine:=") for a in argv)]
    assert commands, "README.md shows no TensorRT launch command"
    for argv in commands:
        arguments = dict(arg.split(":=", 1) for arg in argv[4:])
        evaluated = evaluate_launch(launch_module, arguments)
        parameters = evaluated["parameters"]
        assert parameters["backend"] == "tensorrt" and parameters["device"] == "cuda", parameters
        assert parameters["engine_path"] == arguments["engine"]
        assert parameters["checkpoint"] == arguments["checkpoint"]
        assert parameters["modality"] == "thermal" and parameters["precision"] == "fp32"  # config/thermal.yaml
        assert evaluated["remappings"]["~/rgb/image"] == "/camera/color/image_raw"


def test_every_readme_launch_command_evaluates(launch_module):
    pytest.importorskip("launch_ros")
    commands = readme_launch_commands()
    assert len(commands) >= 2
    for argv in commands:
        arguments = dict(arg.split(":=", 1) for arg in argv[4:])
        arguments["use_rviz"] = "false"  # rviz2 is not installed here (its check is in test_ros2_launch.py)
        parameters = evaluate_launch(launch_module, arguments)["parameters"]
        assert parameters["checkpoint"] == arguments["checkpoint"]
        assert parameters["device"] == ("cuda" if "engine" in arguments else "cpu")
