"""Every parameter of the segmentation node, declared in ONE table: name, type, default, description, validation.

The node declares them all from `PARAMETERS` (read-only unless marked dynamic), reads them into a
`NodeSettings`, and checks them before loading anything, so that a bad value stops the node with one message
that names the parameter and the fix. `overlay_alpha` and `shown_classes` can change at run time (validated in
the node's parameter callback through `check_dynamic_update`). `python -m rxssnet_ros.node_params` prints the
table in Markdown.

The checks work on a plain dict (`validate_values`), as the tests and the launch file use them; only
`declare_parameters` and `read_settings` need a node.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterException

from rxssnet_core.alignment import ALIGNMENT_MODES
from rxssnet_core.errors import RXSSNetError
from rxssnet_core.inference.backends.base import BACKEND_CHOICES, DEVICES, PRECISIONS
from rxssnet_core.inference.model_files import parse_size
from rxssnet_core.input_health import HealthThresholds
from rxssnet_core.network_input import TRAINED
from rxssnet_core.preprocessing import MODALITIES
from rxssnet_ros.compressed_image import TRANSPORTS

# The choices are rxssnet_core's (one definition); what each backend supports is checked when it loads.
BACKENDS = BACKEND_CHOICES
QOS_CHOICES = ("sensor_data", "reliable")
X_MISSING_POLICIES = ("drop", "rgb_only")
RGB_MISSING_POLICIES = ("drop", "x_only")
EXTRINSIC_SOURCES = ("parameters", "tf")
OUTPUT_RESOLUTIONS = ("camera", "network")
# input_size: each image's own size (the backends that take any size)
CAMERA_SIZE = "camera"
ANY_SIZE_BACKENDS = ("torch", "onnxruntime")


class ParameterError(RXSSNetError, ValueError):
    """A parameter value is invalid; the message names the parameter and how to fix it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"parameter '{name}': {message}")
        self.name = name


@dataclass(frozen=True)
class ParamSpec:
    """One parameter. kind: string | double | integer | bool | double_array | integer_array."""

    name: str
    kind: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    length: int | None = None
    dynamic: bool = False


PARAMETERS: tuple[ParamSpec, ...] = (
    # -- model
    ParamSpec("checkpoint", "string", "", "RXSSNet checkpoint (.safetensors or .pt); carries classes, palette and "
              "preprocessing, so every backend needs it. Required."),
    ParamSpec("backend", "string", "torch", "Inference backend (auto: the fastest installed for the "
              "device, logged with the reason).", choices=BACKENDS),
    ParamSpec("device", "string", "cpu", "Device for the backend.", choices=DEVICES),
    ParamSpec("precision", "string", "fp32", "Numeric precision (fp16 and int8 need a GPU; int8 is TensorRT's).",
              choices=PRECISIONS),
    ParamSpec("onnx_path", "string", "", "ONNX model for backend onnxruntime (empty: exported from the checkpoint)."),
    ParamSpec("engine_path", "string", "", "TensorRT engine for backend tensorrt (empty: built from the ONNX)."),
    ParamSpec("input_size", "string", "", "Network input size HxW (e.g. 480x640), the same on every backend: camera "
              "images are letterboxed into it (aspect ratio kept, padded; rxssnet_core.network_input) and ONNX "
              "files, OpenVINO IRs and TensorRT engines are built and cached for it (a given file of another size "
              "is refused). Empty: the size the checkpoint was trained at (its metadata), else 480x640. camera: "
              "each image's own size (torch and onnxruntime only)."),
    ParamSpec("output_resolution", "string", "camera", "Size of ~/labels, ~/colored, ~/overlay and ~/confidence: "
              "camera (the RGB image's) or network (the image's region of the network input, e.g. 360x640 for "
              "1280x720 at 480x640; ~/camera_info then carries K and P scaled to it).",
              choices=OUTPUT_RESOLUTIONS),
    ParamSpec("modality", "string", "", "Modality of the X camera; must match the checkpoint (empty: the "
              "checkpoint's).", choices=("", *MODALITIES)),
    # -- inputs
    ParamSpec("input_qos", "string", "sensor_data", "QoS of the image subscriptions: sensor_data (best effort, "
              "what camera drivers publish) or reliable.", choices=QOS_CHOICES),
    ParamSpec("queue_size", "integer", 10, "Messages held per input by the ApproximateTime synchronizer.",
              low=1, high=1000),
    ParamSpec("slop", "double", 0.05, "Largest stamp difference (s) between an RGB and an X image of one pair.",
              low=0.0, high=10.0),
    ParamSpec("inter_message_lower_bound", "double", 0.0, "Least time (s) between two frames of one camera; "
              "> 0 lets pairs go out without waiting for the next frame (0: message_filters' default).",
              low=0.0, high=10.0),
    ParamSpec("rgb_transport", "string", "raw", "image_transport of the RGB input: raw (sensor_msgs/Image on "
              "~/rgb/image) or compressed (sensor_msgs/CompressedImage, JPEG/PNG, on <resolved ~/rgb/image>/"
              "compressed, as image_transport names it).", choices=TRANSPORTS),
    ParamSpec("x_transport", "string", "raw", "image_transport of the X input: raw (~/x/image), compressed "
              "(JPEG/PNG on <resolved ~/x/image>/compressed) or compressedDepth (16UC1/32FC1 depth PNG on "
              "<resolved ~/x/image>/compressedDepth).", choices=TRANSPORTS),
    ParamSpec("time_jump_threshold", "double", 1.0, "Seconds an input's header stamps, or the node's clock under "
              "use_sim_time (/clock), must go back to count as a time jump (a bag played again, a simulator reset): "
              "pairing queues, input health clocks and the tf buffer are reset, one log line. Smaller steps back "
              "are reorderings and dropped.", low=0.001, high=1e6),
    ParamSpec("max_image_pixels", "integer", 4096 * 4096, "Images with more pixels are rejected (protects memory).",
              low=1, high=2**31 - 1),
    ParamSpec("x_missing_policy", "string", "drop", "When the X camera is silent for x_timeout: drop RGB frames, "
              "or segment with a neutral X (rgb_only, reported as degraded).", choices=X_MISSING_POLICIES),
    ParamSpec("x_timeout", "double", 1.0, "Seconds without X images before the X stream counts as silent.",
              low=0.01, high=3600.0),
    ParamSpec("input_timeout", "double", 5.0, "Seconds without messages before an input is explained as silent "
              "(publishers, QoS, fix).", low=0.1, high=3600.0),
    # -- failure detection and degraded modes (rxssnet_core.input_health; off: only x_timeout silence counts)
    ParamSpec("detect_input_failures", "bool", False, "Watch both cameras for silence, frozen, blank/saturated "
              "and non-finite images and switch the mode (~/mode, /diagnostics): fused, rgb_only "
              "(x_missing_policy), x_only (rgb_missing_policy) or none. Meant for models trained with "
              "train.modality_dropout; off: only X silence (x_timeout) is handled."),
    ParamSpec("rgb_missing_policy", "string", "drop", "With detect_input_failures, when the RGB camera fails: "
              "drop the frames, or segment X with a black RGB (x_only, reported as degraded).",
              choices=RGB_MISSING_POLICIES),
    ParamSpec("rgb_timeout", "double", 1.0, "With detect_input_failures: seconds without RGB images before the "
              "RGB stream counts as silent (x_timeout is the X stream's).", low=0.01, high=3600.0),
    ParamSpec("frozen_timeout", "double", 1.0, "With detect_input_failures: seconds of identical image content "
              "(subsampled hash) or a header stamp that does not advance before an input counts as frozen.",
              low=0.01, high=3600.0),
    ParamSpec("failure_enter_time", "double", 0.3, "With detect_input_failures: seconds a blank, saturated or "
              "non-finite image must persist before the input counts as failed (hysteresis).", low=0.0,
              high=3600.0),
    ParamSpec("failure_exit_time", "double", 1.0, "With detect_input_failures: seconds of good images before a "
              "failed input counts as recovered (hysteresis: no flapping).", low=0.0, high=3600.0),
    ParamSpec("constant_image_std", "double", 0.004, "With detect_input_failures: an image whose standard "
              "deviation is at most this fraction of its full scale is blank (dark) or saturated (bright).",
              low=0.0, high=0.5),
    ParamSpec("max_nonfinite_fraction", "double", 0.5, "With detect_input_failures: a float X (depth) with more "
              "NaN/inf pixels than this fraction counts as failed.", low=0.001, high=1.0),
    ParamSpec("health_check_period", "double", 0.1, "With detect_input_failures: seconds between silence checks "
              "(bounds how late a silent input switches the mode).", low=0.01, high=10.0),
    # -- X registration
    ParamSpec("x_alignment", "string", "none", "How X is registered to the RGB camera: none (same size required), "
              "resize, homography (x_homography), depth (reprojection with both camera_infos).",
              choices=ALIGNMENT_MODES),
    ParamSpec("x_homography", "double_array", (), "Row-major 3x3 homography from X pixels to RGB pixels (empty: "
              "computed from both camera_infos, the extrinsics and alignment_plane_m).", length=9),
    ParamSpec("x_extrinsic_rotation", "double_array", (), "Row-major 3x3 rotation from the X camera optical frame "
              "to the RGB camera optical frame (empty: identity).", length=9),
    ParamSpec("x_extrinsic_translation", "double_array", (), "Translation (m) from the X camera optical frame to "
              "the RGB camera optical frame (empty: zero).", length=3),
    ParamSpec("alignment_plane_m", "double", 0.0, "Scene distance (m) from the X camera for a homography computed "
              "from the camera_infos (0: not set).", low=0.0, high=1e6),
    ParamSpec("x_interpolation", "string", "", "Resampling of X during registration (empty: nearest for depth, "
              "linear otherwise).", choices=("", "nearest", "linear", "cubic", "area")),
    ParamSpec("x_extrinsic_source", "string", "parameters", "Where the X->RGB extrinsics come from: the x_extrinsic_* "
              "parameters, or tf (needs tf2_ros).", choices=EXTRINSIC_SOURCES),
    # -- outputs
    ParamSpec("output_qos", "string", "reliable", "QoS of the output topics.", choices=QOS_CHOICES),
    ParamSpec("publish_colored", "bool", True, "Publish ~/colored (rgb8 palette image)."),
    ParamSpec("publish_overlay", "bool", True, "Publish ~/overlay (rgb8 blend of the colours over the RGB image)."),
    ParamSpec("publish_confidence", "bool", False, "Publish ~/confidence (32FC1 max softmax probability)."),
    ParamSpec("publish_labelling_score", "bool", False, "Add the frame's worth-labelling score to ~/frame_timing "
              "(key `labelling`: rxssnet_core.labelling_score.score_frame, what `rxssnet bag mine` ranks by) so a "
              "recorder can keep those frames; costs one more, RGB-only, inference per frame."),
    ParamSpec("publish_points", "bool", False, "Publish ~/points (labelled PointCloud2; depth modality with "
              "x_alignment depth or an X already registered to RGB)."),
    ParamSpec("points_stride", "integer", 4, "Use every n-th pixel in each direction for ~/points.", low=1, high=64),
    ParamSpec("debug_outputs", "bool", False, "Publish ~/x_aligned (X after registration, in the RGB geometry)."),
    ParamSpec("overlay_alpha", "double", 0.5, "Weight of the class colours in ~/overlay (changeable at run time).",
              low=0.0, high=1.0, dynamic=True),
    ParamSpec("shown_classes", "integer_array", (), "Class ids drawn in ~/colored and ~/overlay; empty: all "
              "(changeable at run time).", dynamic=True),
    # -- runtime
    ParamSpec("diagnostics_period", "double", 1.0, "Seconds between /diagnostics messages.", low=0.05, high=60.0),
    ParamSpec("log_throttle_period", "double", 5.0, "Seconds between two log lines about the same input problem.",
              low=0.0, high=3600.0),
    ParamSpec("lifecycle", "bool", False, "Run as a managed (lifecycle) node: configure loads the model, activate "
              "starts the topics. Read from the command line at process start."),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}
DYNAMIC_PARAMETERS = tuple(spec.name for spec in PARAMETERS if spec.dynamic)


class NodeSettings(types.SimpleNamespace):
    """Validated parameter values, one attribute per entry of `PARAMETERS` (empty optional values become None)."""

    @property
    def serves_degraded_modes(self) -> bool:
        """Whether the node may publish rgb_only labels (on X silence, or any X failure it detects) or x_only
        labels (on an RGB failure, which only detect_input_failures notices)."""
        return self.x_missing_policy == "rgb_only" or (
            self.detect_input_failures and self.rgb_missing_policy == "x_only")


def _type_error(spec: ParamSpec, value: Any) -> ParameterError:
    hints = {
        "double": "a number (e.g. 0.5)",
        "integer": "an integer",
        "bool": "true or false",
        "string": "a string",
        "double_array": f"a list of {spec.length} numbers (e.g. [1.0, 0.0, ...])",
        "integer_array": "a list of integers (e.g. [0, 2])",
    }
    return ParameterError(spec.name, f"got {value!r} of type {type(value).__name__}; expected {hints[spec.kind]}")


def check_value(spec: ParamSpec, value: Any) -> Any:
    """Validate (and normalise) one value against its spec; raises ParameterError."""
    kind = spec.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(spec, value)
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise _type_error(spec, value)
        if spec.choices and value not in spec.choices:
            shown = [c for c in spec.choices if c] or list(spec.choices)
            raise ParameterError(spec.name, f"{value!r} is not one of {shown}"
                                 + (" (or empty)" if "" in spec.choices else ""))
        return value
    if kind in ("double", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(spec, value)
        if kind == "integer" and not isinstance(value, int):
            raise _type_error(spec, value)
        if not math.isfinite(float(value)):
            raise ParameterError(spec.name, f"{value!r} must be a finite number")
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise ParameterError(spec.name, f"{value!r} is outside [{spec.low}, {spec.high}]")
        return float(value) if kind == "double" else int(value)
    # arrays
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _type_error(spec, value)
    items = list(value)
    if kind == "double_array":
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items):
            raise _type_error(spec, value)
        if not all(math.isfinite(float(v)) for v in items):
            raise ParameterError(spec.name, f"{items} must hold finite numbers")
        items = [float(v) for v in items]
    else:
        if any(isinstance(v, bool) or not isinstance(v, int) for v in items):
            raise _type_error(spec, value)
        items = [int(v) for v in items]
    if spec.length is not None and items and len(items) != spec.length:
        raise ParameterError(spec.name, f"has {len(items)} values; it needs exactly {spec.length} (or none)")
    return items


def validate_values(values: Mapping[str, Any], check_files: bool = True) -> NodeSettings:
    """Defaults overlaid with `values` -> NodeSettings, checked one by one and together. Raises ParameterError."""
    unknown = sorted(set(values) - set(SPECS))
    if unknown:
        raise ParameterError(unknown[0], f"is not a parameter of segment_node; known: {sorted(SPECS)}")
    merged: dict[str, Any] = {}
    for spec in PARAMETERS:
        raw = values.get(spec.name, spec.default)
        merged[spec.name] = check_value(spec, list(raw) if isinstance(raw, tuple) else raw)
    if not merged["checkpoint"]:
        raise ParameterError("checkpoint", "is not set; pass -p checkpoint:=/path/to/model.safetensors "
                             "(launch argument checkpoint:=...)")
    if check_files and not os.path.isfile(merged["checkpoint"]):
        raise ParameterError("checkpoint", f"file {merged['checkpoint']!r} does not exist; point it at an RXSSNet "
                             "checkpoint (.safetensors or .pt) written by `rxssnet train` or `rxssnet convert`")
    if any(c < 0 for c in merged["shown_classes"]):
        raise ParameterError("shown_classes", f"{merged['shown_classes']} holds negative class ids")
    if merged["rgb_transport"] == "compressedDepth":
        raise ParameterError("rgb_transport", "compressedDepth carries depth images, not RGB; use raw or "
                             "compressed (the RGB camera's <topic>/compressed)")
    # tf2_ros: a ROS install has it, the PyPI wheels do not; looked up, not imported (segment_node imports it)
    if merged["x_extrinsic_source"] == "tf" and merged["x_alignment"] in ("depth", "homography") and \
            importlib.util.find_spec("tf2_ros") is None:
        raise ParameterError("x_extrinsic_source", "is 'tf' but tf2_ros is not installed here; install "
                             "tf2_ros or set x_extrinsic_source:=parameters")
    merged["input_size"] = _input_size(merged)
    if merged["output_resolution"] == "network" and merged["publish_points"]:
        raise ParameterError("output_resolution", "network gives labels smaller than the depth image, and "
                             "~/points needs both on one grid; set output_resolution:=camera or publish_points:=false")
    settings = NodeSettings(**merged)
    for name in ("onnx_path", "engine_path", "modality", "x_interpolation"):
        if not getattr(settings, name):
            setattr(settings, name, None)
    settings.alignment_plane_m = settings.alignment_plane_m or None
    settings.shown_classes = settings.shown_classes or None
    return settings


def _input_size(merged: Mapping[str, Any]) -> Any:
    """The Segmenter's input_size for the parameter: TRAINED (empty), None (camera) or (H, W)."""
    text = merged["input_size"].strip()
    if not text:
        return TRAINED
    if text == CAMERA_SIZE:
        if merged["backend"] not in ANY_SIZE_BACKENDS:
            raise ParameterError("input_size", f"camera needs a backend that runs any size ({ANY_SIZE_BACKENDS}); "
                                 f"backend {merged['backend']} builds for one size: set input_size:=HxW (e.g. "
                                 "480x640) or leave it empty (the checkpoint's training size)")
        return None
    try:
        return parse_size(text)
    except ValueError as error:
        raise ParameterError("input_size", f"{error}; or leave it empty (the checkpoint's training size), or "
                             "camera (each image's own size)") from None


def check_dynamic_update(name: str, value: Any, num_classes: int | None) -> str | None:
    """Why a run-time change of `name` to `value` is refused, or None when it is fine."""
    spec = SPECS.get(name)
    if spec is None:
        return f"'{name}' is not a parameter of segment_node"
    if not spec.dynamic:
        return f"'{name}' is read-only; restart the node to change it"
    if name == "shown_classes" and value is not None and len(value) == 0:
        return None  # an empty array of any element type means "all classes"
    try:
        value = check_value(spec, value)
    except ParameterError as error:
        return str(error)
    if name == "shown_classes":
        bad = [c for c in value if c < 0 or (num_classes is not None and c >= num_classes)]
        if bad:
            return f"parameter 'shown_classes': ids {bad} are not classes of this model (0..{(num_classes or 1) - 1})"
    return None


# -- rclpy glue --------------------------------------------------------------------------------------------------------
def _descriptor(spec: ParamSpec) -> Any:
    types_ = {"string": ParameterType.PARAMETER_STRING, "double": ParameterType.PARAMETER_DOUBLE,
              "integer": ParameterType.PARAMETER_INTEGER, "bool": ParameterType.PARAMETER_BOOL,
              "double_array": ParameterType.PARAMETER_DOUBLE_ARRAY,
              "integer_array": ParameterType.PARAMETER_INTEGER_ARRAY}
    constraints = []
    if spec.choices:
        constraints.append("one of: " + ", ".join(repr(c) for c in spec.choices))
    if spec.length is not None:
        constraints.append(f"exactly {spec.length} values, or none")
    # Types are checked by `check_value`, not by rclpy: its messages name the parameter and the fix, an integer
    # is accepted where a double is expected (YAML `slop: 0`), and an empty list (typed as a byte array by
    # rclpy) can mean "all classes".
    descriptor = ParameterDescriptor(
        name=spec.name, type=types_[spec.kind], description=spec.description,
        additional_constraints="; ".join(constraints), read_only=not spec.dynamic, dynamic_typing=True)
    if spec.kind == "double" and spec.low is not None and spec.high is not None and spec.dynamic:
        descriptor.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high)]
    elif spec.kind == "integer" and spec.low is not None and spec.high is not None and spec.dynamic:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high))]
    return descriptor


def declare_parameters(node: Any) -> None:
    """Declare every parameter of the table on `node` (values are checked afterwards by `read_settings`)."""
    for spec in PARAMETERS:
        if node.has_parameter(spec.name):
            continue
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        try:
            node.declare_parameter(spec.name, default, _descriptor(spec))
        except ParameterException as error:
            raise ParameterError(spec.name, f"rejected by rclpy ({error}); {spec.description}") from None


def read_settings(node: Any, check_files: bool = True) -> NodeSettings:
    """The node's current parameter values, validated (ParameterError on the first bad one)."""
    values = {}
    for spec in PARAMETERS:
        value = node.get_parameter(spec.name).value
        values[spec.name] = [] if value is None and spec.kind.endswith("array") else value
    return validate_values(values, check_files=check_files)


def health_thresholds(settings: NodeSettings, stream: str) -> HealthThresholds:
    """The `input_health.HealthThresholds` of input `stream` ("rgb" or "x") from the node's settings."""
    return HealthThresholds(
        silent_after_s=settings.rgb_timeout if stream == "rgb" else settings.x_timeout,
        frozen_after_s=settings.frozen_timeout, enter_after_s=settings.failure_enter_time,
        exit_after_s=settings.failure_exit_time, constant_std=settings.constant_image_std,
        max_nonfinite=settings.max_nonfinite_fraction)


def wants_lifecycle(argv: Sequence[str]) -> bool:
    """Whether `lifecycle` is true in the ROS arguments (-p lifecycle:=true, or a --params-file entry).

    Needed before the node exists, since it decides the node's class.
    """

    args = list(argv)
    if "--ros-args" not in args:
        return False
    lifecycle = False
    index = args.index("--ros-args") + 1
    while index < len(args):
        arg = args[index]
        value = args[index + 1] if index + 1 < len(args) else ""
        if arg in ("-p", "--param") and value.startswith("lifecycle:="):
            lifecycle = value.split(":=", 1)[1].strip().lower() == "true"
        elif arg == "--params-file" and os.path.isfile(value):
            with open(value, encoding="utf-8") as stream:
                data = yaml.safe_load(stream) or {}
            for entry in data.values() if isinstance(data, dict) else ():
                params = entry.get("ros__parameters", {}) if isinstance(entry, dict) else {}
                if isinstance(params, dict) and "lifecycle" in params:
                    lifecycle = bool(params["lifecycle"])
        elif arg == "--":
            break
        index += 1
    return lifecycle


def markdown_table() -> str:
    """The parameter table in Markdown (for docs)."""
    lines = ["| parameter | type | default | run time | description |", "|---|---|---|---|---|"]
    for spec in PARAMETERS:
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        choices = f" One of {', '.join(repr(c) for c in spec.choices if c)}." if spec.choices else ""
        lines.append(f"| `{spec.name}` | {spec.kind} | `{default!r}` | {'yes' if spec.dynamic else 'no'} | "
                     f"{spec.description}{choices} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
