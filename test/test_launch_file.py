"""launch/segment.launch.py: importable without ROS 2 launch, declares its arguments, builds the node's
configuration; config/rviz/segment.rviz is valid rviz2 YAML showing the overlay, the mask and both inputs."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
REQUIRED = {"config", "modality", "rgb_topic", "x_topic", "checkpoint", "engine", "backend", "use_rviz"}


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
    assert setup["parameters"][1] == {"engine_path": "/e.engine", "backend": "tensorrt"}
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
