# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The node's parameter table: validation, run-time updates, rclpy declaration, and startup errors.

A bad configuration stops segment_node with exit code 2 and ONE log line naming the parameter and the fix
(no traceback); those runs use real processes, started together so that their start-up overlaps.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ros_harness import NodeProcess, ros_child_env

from rxssnet_ros import node_params
from rxssnet_ros.node_params import (
    PARAMETERS,
    SPECS,
    ParameterError,
    check_dynamic_update,
    check_value,
    validate_values,
    wants_lifecycle,
)

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_every_parameter_is_described_and_its_default_is_valid():
    assert len({spec.name for spec in PARAMETERS}) == len(PARAMETERS), "a parameter is declared twice"
    for spec in PARAMETERS:
        assert len(spec.description) > 15, spec.name
        assert spec.kind in ("string", "double", "integer", "bool", "double_array", "integer_array")
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        check_value(spec, default)
    assert set(node_params.DYNAMIC_PARAMETERS) == {"overlay_alpha", "shown_classes"}
    for name in ("queue_size", "slop", "input_qos", "x_missing_policy", "x_timeout", "input_timeout",
                 "overlay_alpha", "shown_classes", "max_image_pixels", "x_alignment", "x_homography",
                 "x_extrinsic_rotation", "x_extrinsic_translation", "alignment_plane_m", "x_extrinsic_source",
                 "publish_points", "points_stride", "debug_outputs", "lifecycle", "backend", "modality"):
        assert name in SPECS, name


def test_validate_values_normalises_and_fills_defaults(tmp_path):
    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"x")
    settings = validate_values({"checkpoint": str(checkpoint), "slop": 0, "shown_classes": [2, 0],
                                "x_homography": [1, 0, 0, 0, 1, 0, 0, 0, 1]})
    assert settings.slop == 0.0 and isinstance(settings.slop, float)  # YAML `slop: 0` is an integer
    assert settings.shown_classes == [2, 0]
    assert settings.x_homography == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert settings.modality is None and settings.onnx_path is None and settings.alignment_plane_m is None
    assert settings.queue_size == 10 and settings.input_qos == "sensor_data" and settings.output_qos == "reliable"
    assert validate_values({"checkpoint": str(checkpoint)}).shown_classes is None


@pytest.mark.parametrize("values,name,text", [
    ({}, "checkpoint", "is not set"),
    ({"checkpoint": "/no/such/model.safetensors"}, "checkpoint", "does not exist"),
    ({"backend": "caffe"}, "backend", "'caffe' is not one of ['torch', 'onnxruntime', 'tensorrt', 'openvino', 'auto']"),
    ({"modality": "sonar"}, "modality", "'sonar' is not one of"),
    ({"input_qos": "best_effort"}, "input_qos", "not one of ['sensor_data', 'reliable']"),
    ({"slop": "abc"}, "slop", "expected a number"),
    ({"overlay_alpha": 2.0}, "overlay_alpha", "outside [0.0, 1.0]"),
    ({"queue_size": 0}, "queue_size", "outside [1, 1000]"),
    ({"queue_size": 2.5}, "queue_size", "expected an integer"),
    ({"x_homography": [1.0] * 8}, "x_homography", "has 8 values; it needs exactly 9"),
    ({"shown_classes": [1, -2]}, "shown_classes", "negative"),
    ({"publish_points": "yes"}, "publish_points", "expected true or false"),
    ({"x_timeout": float("nan")}, "x_timeout", "finite"),
    ({"no_such_parameter": 1}, "no_such_parameter", "is not a parameter of segment_node"),
])
def test_bad_values_name_the_parameter(tmp_path, values, name, text):
    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"x")
    if "checkpoint" not in values and values:
        values = {"checkpoint": str(checkpoint), **values}
    with pytest.raises(ParameterError) as error:
        validate_values(values)
    assert error.value.name == name
    assert f"parameter '{name}'" in str(error.value) and text in str(error.value), str(error.value)


def test_dynamic_updates_are_validated():
    assert check_dynamic_update("overlay_alpha", 0.3, 5) is None
    assert "outside" in check_dynamic_update("overlay_alpha", 1.5, 5)
    assert check_dynamic_update("shown_classes", [0, 4], 5) is None
    assert check_dynamic_update("shown_classes", [], 5) is None  # empty: all classes
    assert "ids [5]" in check_dynamic_update("shown_classes", [0, 5], 5)
    assert "expected a list of integers" in check_dynamic_update("shown_classes", None, 5)
    assert "read-only" in check_dynamic_update("slop", 0.1, 5)


def test_wants_lifecycle_reads_command_line_and_params_files(tmp_path):
    assert not wants_lifecycle(["segment_node"])
    assert wants_lifecycle(["segment_node", "--ros-args", "-p", "lifecycle:=true"])
    assert not wants_lifecycle(["segment_node", "--ros-args", "-p", "lifecycle:=false"])
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"lifecycle": True}}}))
    assert wants_lifecycle(["segment_node", "--ros-args", "--params-file", str(params)])


def test_markdown_table_lists_every_parameter():
    table = node_params.markdown_table()
    for spec in PARAMETERS:
        assert f"| `{spec.name}` |" in table


@pytest.mark.ros
def test_declared_on_a_real_node_with_descriptors(tmp_path):
    import rclpy
    from rclpy.parameter import Parameter

    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"x")
    context = rclpy.Context()
    rclpy.init(context=context, args=["x", "--ros-args", "-p", f"checkpoint:={checkpoint}", "-p",
                                      "shown_classes:=[1,3]", "-p", "slop:=0"])
    try:
        node = rclpy.create_node("params_probe", context=context)
        node_params.declare_parameters(node)
        settings = node_params.read_settings(node)
        assert settings.shown_classes == [1, 3] and settings.slop == 0.0
        described = node.describe_parameters(["slop", "overlay_alpha"])
        assert described[0].read_only and not described[1].read_only
        assert "stamp difference" in described[0].description
        assert described[1].floating_point_range[0].to_value == 1.0
        result = node.set_parameters([Parameter("slop", value=0.2)])[0]
        assert not result.successful and "read-only" in result.reason
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.ros
@pytest.mark.slow
def test_bad_configuration_exits_with_one_clear_line(tiny_checkpoint, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a checkpoint at all")
    env = ros_child_env()
    cases = [
        ({}, "parameter 'checkpoint': is not set"),
        ({"checkpoint": str(tmp_path / "missing.safetensors")}, "does not exist"),
        ({"checkpoint": str(tiny_checkpoint), "backend": "caffe"}, "parameter 'backend': 'caffe' is not one of"),
        ({"checkpoint": str(tiny_checkpoint), "modality": "sonar"}, "parameter 'modality': 'sonar' is not one"),
        ({"checkpoint": str(tiny_checkpoint), "input_qos": "fast"}, "parameter 'input_qos'"),
        ({"checkpoint": str(tiny_checkpoint), "modality": "depth"}, "was trained for 'thermal'"),
        ({"checkpoint": str(corrupt)}, "could not be loaded with backend=torch"),
    ]
    nodes = [NodeProcess(params, env) for params, _ in cases]  # all at once: start-up overlaps
    try:
        for node, (_, text) in zip(nodes, cases):
            code = node.wait(120)
            lines = [line for line in node.lines if line.strip()]
            assert code == 2, f"{node.args}: exit {code}\n{node.output}"
            assert len(lines) == 1, f"{node.args}: expected one line:\n{node.output}"
            assert "[FATAL]" in lines[0] and text in lines[0], lines[0]
            assert "Traceback" not in node.output
    finally:
        for node in nodes:
            node.stop()


def test_config_files_hold_only_known_valid_parameters():
    for modality in ("thermal", "depth", "polarization"):
        data = yaml.safe_load((REPO / "config" / f"{modality}.yaml").read_text())
        assert list(data) == ["/**"], "use /** so that remapped or namespaced nodes get the parameters"
        params = data["/**"]["ros__parameters"]
        assert params["modality"] == modality
        settings = validate_values({**params, "checkpoint": "model.safetensors"}, check_files=False)
        assert settings.modality == modality


@pytest.mark.parametrize("values,needs_info,error", [
    ({"x_alignment": "homography", "x_homography": [2.0, 0, 5, 0, 2, 3, 0, 0, 1]}, False, None),
    ({"x_alignment": "homography", "alignment_plane_m": 5.0, "x_extrinsic_translation": [0.06, 0.0, 0.0]},
     True, None),
    ({"x_alignment": "depth", "x_extrinsic_source": "parameters"}, True, None),
    ({"x_alignment": "homography", "x_homography": [1.0, 2, 3, 2, 4, 6, 0, 0, 1]}, None, "x_homography is not"),
    ({"x_alignment": "depth", "x_extrinsic_rotation": [1.0, 0, 0, 0, 1, 0, 0, 0, 2]}, None,
     "x_extrinsic_rotation is not a rotation"),
])
def test_alignment_parameters_reach_the_aligner(tmp_path, values, needs_info, error):
    """The node maps its parameters onto rxssnet_core.alignment; calibration errors stop it with one message."""
    import types

    from rxssnet_core.preprocessing import PreprocessConfig
    from rxssnet_ros.segment_node import NodeConfigError, make_node_aligner

    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"x")
    settings = validate_values({"checkpoint": str(checkpoint), **values})
    model = types.SimpleNamespace(preprocess_config=PreprocessConfig(modality="depth"))
    if error:
        with pytest.raises(NodeConfigError, match=error):
            make_node_aligner(settings, model)
        return
    aligner = make_node_aligner(settings, model)
    assert aligner.config.mode == values["x_alignment"] and aligner.needs_camera_info == needs_info
    assert aligner.config.resolved_interpolation == "nearest", "depth-like X is never interpolated"


def test_help_flag_is_ours_only_before_ros_args():
    from rxssnet_ros.node_runner import asks_for_help

    assert asks_for_help(["segment_node", "--help"])
    assert asks_for_help(["segment_node", "-h", "--ros-args", "-p", "a:=1"])
    assert not asks_for_help(["segment_node", "--ros-args", "--help"])
    assert not asks_for_help(["segment_node"])


def test_input_size_and_output_resolution() -> None:
    from rxssnet_core.network_input import TRAINED

    base = {"checkpoint": "/m.safetensors"}
    assert node_params.validate_values(base, check_files=False).input_size == TRAINED
    assert node_params.validate_values({**base, "input_size": "720x1280"}, check_files=False).input_size == (720, 1280)
    assert node_params.validate_values({**base, "input_size": "camera"}, check_files=False).input_size is None
    with pytest.raises(node_params.ParameterError, match=r"input_size.*camera needs a backend that runs any size"):
        node_params.validate_values({**base, "input_size": "camera", "backend": "openvino"}, check_files=False)
    with pytest.raises(node_params.ParameterError, match=r"input_size.*'480-640' must look like '480x640'"):
        node_params.validate_values({**base, "input_size": "480-640"}, check_files=False)
    with pytest.raises(node_params.ParameterError, match=r"output_resolution.*publish_points"):
        node_params.validate_values({**base, "output_resolution": "network", "publish_points": True},
                                    check_files=False)
