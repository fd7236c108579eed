# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`segment_node`: RGB + X images in, semantic labels out. A thin ROS shell over `rxssnet_core.Segmenter`.

Topics (relative, so namespaces and remapping apply):
    in   ~/rgb/image, ~/x/image (sensor_msgs/Image; with rgb_transport / x_transport compressed or compressedDepth
         sensor_msgs/CompressedImage on <resolved name>/compressed|compressedDepth, as image_transport
         subscribes), ~/rgb/camera_info (republished with the labels),
         ~/x/camera_info (only when x_alignment needs it; then synchronized with the images)
    out  ~/labels (mono8, mono16 beyond 255 classes), ~/colored (rgb8), ~/overlay (rgb8), ~/confidence (32FC1,
         publish_confidence), ~/camera_info, ~/points (PointCloud2, publish_points), ~/x_aligned (debug_outputs),
         /diagnostics (about once a second), ~/mode (std_msgs/String JSON, latched: transient local),
         ~/frame_timing (std_msgs/String JSON per output while subscribed: pairing and queue wait, the pipeline's
         steps and the backend call of that frame; `frame_timing`)

Data path: subscription callbacks (executor thread, `node_inputs`) check each message's layout and stamp order
and pair RGB with X (the one rule of `synchronizer.PairingRule`, as `rxssnet bag eval` pairs);
pairs go to one worker thread with a latest-only slot (`InferenceWorker`), which decodes, registers X
(`XAligner`), segments and publishes with the RGB image's header. Bad input is logged once per cause and
throttle period (`ThrottledLog`), counted in /diagnostics, and never stops the node.

Degraded modes: with `detect_input_failures`, `rxssnet_core.input_health` watches each camera (silent, frozen,
blank/saturated, non-finite) with hysteresis; the node then runs fused, rgb_only (neutral X,
x_missing_policy), x_only (black RGB, rgb_missing_policy; the X images drive the output) or none, announces every
switch once (log, ~/mode, /diagnostics WARN with the cause) and returns to fused when the input recovers.

Parameters: `rxssnet_ros/node_params.py` (one table). `-p lifecycle:=true` runs a managed node: configure loads
the model, activate creates the topics, deactivate removes them (the model stays), cleanup unloads it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from rxssnet_core.alignment import AlignmentConfig, XAligner
from rxssnet_core.camera_geometry import AlignmentError
from rxssnet_core.degradation import degraded_mode_warning
from rxssnet_core.errors import RXSSNetError
from rxssnet_core.frame_pipeline import FrameOutput, FramePipeline, FrameProblem, FrameWants, make_aligner
from rxssnet_core.inference.segmenter import Segmenter
from rxssnet_core.labelling_score import score_frame
from rxssnet_core.network_input import letterbox
from rxssnet_ros import node_params
from rxssnet_ros.bag_tools.tf_from_bag import rotation_from_quaternion
from rxssnet_ros.degraded_modes import check_mode
from rxssnet_ros.diagnostics import HealthReport, to_diagnostic_array
from rxssnet_ros.image_conversion import (
    ImageConversionError,
    array_to_image,
    cv_bridge_in_use,
    rgb_from_image,
    x_from_image,
)
from rxssnet_ros.inference_worker import InferenceWorker
from rxssnet_ros.node_frames import Job, camera_info_with_header, encoding_for_x, frame_timing
from rxssnet_ros.node_health import explain_silence, health_report
from rxssnet_ros.node_inputs import InputGates, InputSubscriber
from rxssnet_ros.node_runner import asks_for_help, keep_frame_memory_mapped, run_until_stopped
from rxssnet_ros.node_state import NodeHealth, NodeInputs, NodeOutputs, NodeTiming, ProblemLog
from rxssnet_ros.pointcloud_msg import make_pointcloud2
from rxssnet_ros.qos_doctor import qos_profile
from rxssnet_ros.ros_time import stamp_ns
from rxssnet_ros.time_jumps import reset_time_line, watch_clock_jumps

NODE_NAME = "segment_node"
EXIT_CONFIG_ERROR = 2


def _size_text(size: tuple[int, int] | None) -> str:
    return "camera (each image's size)" if size is None else f"{size[0]}x{size[1]}"


class NodeConfigError(RXSSNetError, RuntimeError):
    """The node cannot start as configured; the message names the parameter (or file) and the fix."""


def make_node_aligner(settings: node_params.NodeSettings, segmenter: Any) -> XAligner | None:
    """The X aligner the parameters ask for (x_alignment and its geometry). Raises NodeConfigError."""
    params = {name: getattr(settings, name) for name in (
        "x_alignment", "x_homography", "x_extrinsic_rotation", "x_extrinsic_translation",
        "alignment_plane_m", "x_interpolation")}
    try:
        return make_aligner(AlignmentConfig.from_params(params), segmenter.preprocess_config)
    except AlignmentError as error:
        raise NodeConfigError(str(error)) from None


class SegmentationNode(Node):
    """Everything the plain and the lifecycle node share. Stages: declare -> configure -> activate.

    The state lives in objects with explicit fields (`node_state`): inputs, health, outputs, timing, problems.
    """

    # -- stage 0: parameters and state objects (constructor) ----------------------------------------------------
    def _setup(self) -> None:
        self.settings: node_params.NodeSettings | None = None
        self.segmenter: Any = None
        self.aligner: Any = None
        self.pipeline: FramePipeline | None = None
        self.inputs, self.health, self.outputs = NodeInputs(), NodeHealth(), NodeOutputs()
        self.timing, self.problems = NodeTiming(), ProblemLog(self.get_logger())
        self._active = False
        self._gates: InputGates | None = None  # the input side while active
        self._timers: list[Any] = []
        self._worker: InferenceWorker | None = None
        self._tf_buffer: Any = None
        self._tf_listener: Any = None
        node_params.declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # -- stage 1: configure (load parameters and model) ---------------------------------------------------------
    def configure_segmentation(self) -> None:
        """Read and check the parameters, load the model and the aligner. Raises NodeConfigError."""
        try:
            settings = node_params.read_settings(self)
        except node_params.ParameterError as error:
            raise NodeConfigError(str(error)) from None
        self.problems.throttle.period_s = settings.log_throttle_period
        segmenter = self._load_segmenter(settings)
        modality = segmenter.preprocess_config.modality
        if settings.modality is not None and settings.modality != modality:
            raise NodeConfigError(
                f"parameter 'modality': {settings.modality!r}, but checkpoint {settings.checkpoint} was trained "
                f"for {modality!r}; use a {settings.modality} checkpoint or set modality:={modality} "
                "(launch argument modality)")
        if settings.shown_classes and max(settings.shown_classes) >= segmenter.num_classes:
            raise NodeConfigError(f"parameter 'shown_classes': {settings.shown_classes} names classes beyond the "
                                  f"model's {segmenter.num_classes} (ids 0..{segmenter.num_classes - 1})")
        self.aligner = make_node_aligner(settings, segmenter)
        if settings.publish_points and modality != "depth":
            raise NodeConfigError(f"parameter 'publish_points': needs a depth X, but the model's modality is "
                                  f"{modality!r}; set publish_points:=false")
        self.settings, self.segmenter = settings, segmenter
        self.pipeline = FramePipeline(segmenter, self.aligner)
        self.outputs.overlay_alpha, self.outputs.shown_classes = settings.overlay_alpha, settings.shown_classes
        self.get_logger().info(
            f"loaded model {segmenter.model_name} ({segmenter.num_classes} classes, {modality}) from "
            f"{settings.checkpoint} on {segmenter.backend_name}/{settings.device}/{settings.precision}; "
            f"input_size {_size_text(segmenter.input_size)} (letterboxed), output_resolution "
            f"{settings.output_resolution}; x_alignment={settings.x_alignment}, image conversion: "
            f"{'cv_bridge' if cv_bridge_in_use() else 'builtin'}")
        warning = degraded_mode_warning(segmenter.metadata, settings.serves_degraded_modes)
        if warning is not None:
            self.get_logger().warning(warning)

    def _load_segmenter(self, settings: node_params.NodeSettings) -> Any:
        try:
            segmenter = Segmenter.from_checkpoint(
                settings.checkpoint, backend=settings.backend, device=settings.device,
                precision=settings.precision, onnx_path=settings.onnx_path, engine_path=settings.engine_path,
                input_size=settings.input_size)
            segmenter.warmup(64, 64)
        except (ValueError, KeyError, OSError, RuntimeError, ImportError) as error:
            raise NodeConfigError(
                f"parameter 'checkpoint': {settings.checkpoint} could not be loaded with backend="
                f"{settings.backend} device={settings.device} precision={settings.precision}: {error}") from None
        return segmenter

    def unload_segmentation(self) -> None:
        """Forget the model (lifecycle cleanup)."""
        if self.segmenter is not None:
            with contextlib.suppress(Exception):
                self.segmenter.close()
        self.segmenter = self.aligner = self.pipeline = self.settings = None
        self.get_logger().info("model unloaded")

    # -- stage 2: activate (topics, worker, timers) -------------------------------------------------------------
    def activate_segmentation(self) -> None:
        """Create publishers, the worker, the subscriptions and the diagnostics timer."""
        settings = self.settings
        assert settings is not None, "configure before activate"
        out_qos = qos_profile(settings.output_qos)
        pub = self.outputs.pub = {"labels": self.create_publisher(Image, "~/labels", out_qos),
                                  "camera_info": self.create_publisher(CameraInfo, "~/camera_info", out_qos)}
        for name, enabled in (("colored", settings.publish_colored), ("overlay", settings.publish_overlay),
                              ("confidence", settings.publish_confidence), ("x_aligned", settings.debug_outputs)):
            if enabled:
                pub[name] = self.create_publisher(Image, f"~/{name}", out_qos)
        if settings.publish_points:
            pub["points"] = self.create_publisher(PointCloud2, "~/points", out_qos)
        pub["diagnostics"] = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        pub["mode"] = self.create_publisher(String, "~/mode", latched)
        # per output frame, only while someone listens (benchmarks, debugging): rxssnet_ros.segment_node.frame_timing
        pub["frame_timing"] = self.create_publisher(String, "~/frame_timing", 10)
        self.health.start(settings, time.monotonic())
        self._publish_mode()

        if settings.x_extrinsic_source == "tf" and self.aligner.needs_extrinsic:
            # tf2_ros: on every ROS install, not among the pip wheels; only x_extrinsic_source:=tf needs it
            from tf2_ros import Buffer, TransformListener

            self._tf_buffer = Buffer()
            self._tf_listener = TransformListener(self._tf_buffer, self)

        self._worker = InferenceWorker(self._process, self._on_worker_error).start()
        self._gates = InputGates(self, settings, self.aligner.needs_camera_info, self.inputs, self.health,
                                 self.timing, self.problems, self._submit, self.reset_time_line)
        self._gates.subscribe()
        self.timing.jump_handle = watch_clock_jumps(self.get_clock(), settings.time_jump_threshold,
                                                    self.reset_time_line)
        self._timers.append(self.create_timer(settings.diagnostics_period, self._publish_diagnostics))
        self._timers.append(self.create_timer(settings.health_check_period, self._check_mode))
        self._active = True
        pairing = self.inputs.pairing.rule.describe() if self.inputs.pairing is not None else "none"
        self.get_logger().info(
            f"segmenting {self.inputs.topic('rgb')} + {self.inputs.topic('x')} -> "
            f"{pub['labels'].topic_name} (pairing: {pairing}, "
            f"input_qos {settings.input_qos}, subscribers: {InputSubscriber.__module__}.{InputSubscriber.__name__})")

    def deactivate_segmentation(self) -> None:
        """Stop subscribing, finish the running frame, stop publishing (the model stays loaded)."""
        self._active = False
        if self._gates is not None:
            self._gates.open = False
            self._gates = None
        if self.timing.jump_handle is not None:
            self.timing.jump_handle.unregister()
            self.timing.jump_handle = None
        for sub in self.inputs.subs.values():
            self.destroy_subscription(sub)
        self.inputs.unsubscribed()
        # The running frame finishes (and is not published); then nothing uses the publishers any more.
        if self._worker is not None:
            if not self._worker.stop(timeout=30.0):
                self.get_logger().warning("the inference thread did not finish within 30 s")
            self._worker = None
        for timer in self._timers:
            timer.cancel()
            self.destroy_timer(timer)
        self._timers = []
        for publisher in self.outputs.pub.values():
            self.destroy_publisher(publisher)
        self.outputs.pub = {}
        if self._tf_buffer is not None:
            self._tf_listener.unregister()
            self._tf_buffer = self._tf_listener = None

    def stop(self) -> None:
        """Deactivate when active (shutdown, error)."""
        if self._active or self._worker is not None:
            self.deactivate_segmentation()

    # -- what combines the state objects: time jumps, the serving mode, /diagnostics (timers, executor) ---------
    def reset_time_line(self, cause: str) -> None:
        """Time went back: forget everything ordered by time (`time_jumps`), log one line."""
        if self.settings is not None:
            reset_time_line(cause, self.settings, self.inputs, self.health, self.timing, self._tf_buffer,
                            self.get_logger())

    def _check_mode(self) -> None:
        if self._active and self.settings is not None and check_mode(
                self.settings, self.health, self.timing, self.inputs.topic("x"), self.get_logger()):
            self._publish_mode()

    def _publish_mode(self) -> None:
        publisher = self.outputs.pub.get("mode")
        if publisher is not None:
            publisher.publish(String(data=self.health.mode_json()))

    def health_report(self, now: float | None = None) -> HealthReport:
        """The node's state as a HealthReport (what /diagnostics publishes); needs a configured node."""
        settings = self.settings
        assert settings is not None, "configure before asking for the health report"
        return health_report(now, settings, self.segmenter, self._worker, self.inputs, self.health, self.outputs,
                             self.timing, self.problems,
                             lambda name, silent: explain_silence(self, settings, self.inputs, name, silent))

    def _publish_diagnostics(self) -> None:
        if not self._active:
            return
        name = self.get_fully_qualified_name()
        array = to_diagnostic_array(f"{name}: segmentation", name, [self.health_report(time.monotonic())],
                                    self.get_clock().now().to_msg())
        self.outputs.pub["diagnostics"].publish(array)

    def _submit(self, job: Job) -> None:
        """Hand a pair to the worker; a waiting pair it replaces is counted in worker.dropped."""
        if self._worker is not None:
            self._worker.submit(job)

    # -- worker thread ------------------------------------------------------------------------------------------
    def _process(self, job: Job) -> None:
        """Decode the pair, hand it to the frame pipeline, publish what it gives (worker thread)."""
        settings, pipeline = self.settings, self.pipeline
        if settings is None or pipeline is None:
            return
        job.started = time.monotonic()
        try:
            rgb = job.rgb if job.mode == "x_only" else rgb_from_image(
                job.rgb, f"RGB image on {self.inputs.topic('rgb')}", settings.max_image_pixels)
            x = None if job.x is None else x_from_image(job.x, f"X image on {self.inputs.topic('x')}",
                                                        settings.max_image_pixels)
        except ImageConversionError as error:
            raise FrameProblem(error.cause, str(error)) from None
        if x is not None and job.mode != "x_only" and settings.x_extrinsic_source == "tf" and \
                self.aligner.needs_extrinsic:
            self._extrinsic_from_tf(job)
        labelling = settings.publish_labelling_score and self.outputs.wanted("frame_timing")
        outputs = self.outputs
        wants = FrameWants(confidence=outputs.wanted("confidence") or labelling, colors=outputs.wanted("colored"),
                           overlay=outputs.wanted("overlay"), points="points" in outputs.pub,
                           shown_classes=outputs.shown_classes, overlay_alpha=outputs.overlay_alpha,
                           points_stride=settings.points_stride,
                           at_network_size=settings.output_resolution == "network")
        try:
            output = pipeline.run(rgb, x, self.inputs.rgb_info, job.x_info, wants)
        except FrameProblem as problem:
            raise FrameProblem(problem.cause, f"{problem}: dropped") from None
        if labelling:  # the score `rxssnet bag mine` ranks by, from the same function
            job.labelling = score_frame(pipeline.segmenter, rgb, output.labels, output.confidence).to_dict()
        for cause, message in output.notes:
            self.problems.report("pair", cause, message, level="info")
        if self._worker is None or self._worker.stopping:
            return  # deactivating: the publishers are going away
        self._publish(job, output)

    def _extrinsic_from_tf(self, job: Job) -> None:
        try:
            transform = self._tf_buffer.lookup_transform(job.rgb.header.frame_id, job.x.header.frame_id,
                                                         Time())
        except Exception as error:  # tf2 raises several lookup exception types
            raise FrameProblem("tf", f"x_extrinsic_source=tf: no transform from {job.x.header.frame_id!r} to "
                               f"{job.rgb.header.frame_id!r} ({error}); publish it (static_transform_publisher) "
                               "or use x_extrinsic_source:=parameters") from None
        q, t = transform.transform.rotation, transform.transform.translation
        self.aligner.set_extrinsic(rotation_from_quaternion(q.x, q.y, q.z, q.w), [t.x, t.y, t.z])

    def _publish(self, job: Job, output: FrameOutput) -> None:
        header, pub = job.header if job.header is not None else job.rgb.header, self.outputs.pub
        labels = output.labels
        pub["labels"].publish(array_to_image(labels, "mono8" if labels.dtype == np.uint8 else "mono16", header))
        if output.colors is not None and "colored" in pub:
            pub["colored"].publish(array_to_image(output.colors, "rgb8", header))
        if output.overlay is not None:
            pub["overlay"].publish(array_to_image(output.overlay, "rgb8", header))
        if output.confidence is not None and "confidence" in pub:
            pub["confidence"].publish(array_to_image(output.confidence, "32FC1", header))
        info = self.inputs.rgb_info
        if info is not None:
            if output.scale != 1.0 and labels.shape == letterbox((info.height, info.width),
                                                                 self.segmenter.network_size(1, 1)).content:
                pub["camera_info"].publish(camera_info_with_header(info, header, output.scale, labels.shape))
            elif (info.height, info.width) == labels.shape:
                pub["camera_info"].publish(camera_info_with_header(info, header))
            else:
                self.problems.report("rgb_info", "size", f"camera_info on {self.inputs.topic('rgb_info')} is for "
                                     f"{info.width}x{info.height} images but the RGB images are {labels.shape[1]}x"
                                     f"{labels.shape[0]}: not republished")
        if output.x_aligned is not None and self.outputs.wanted("x_aligned"):
            pub["x_aligned"].publish(array_to_image(output.x_aligned, encoding_for_x(output.x_aligned), header))
        if output.points is not None:
            pub["points"].publish(make_pointcloud2(header, output.points))
        self.timing.meters["outputs"].tick()
        if pub["frame_timing"].get_subscription_count() > 0:
            pub["frame_timing"].publish(String(data=json.dumps(frame_timing(job, output, header))))
        self.timing.latency.add((time.monotonic() - job.received) * 1e3)
        self.timing.segment_ms.add(output.timing.get("total_ms", 0.0))
        self.outputs.published(job)

    def _on_worker_error(self, job: Job, error: BaseException) -> None:
        if isinstance(error, FrameProblem):
            self.problems.report("pair", error.cause, str(error))
            return
        name = type(error).__name__
        header = job.header if job.header is not None else job.rgb.header
        self.problems.report("inference", name, f"segmenting the pair stamped {stamp_ns(header.stamp) / 1e9:.3f} "
                     f"s failed: {name}: {error}", level="error")

    # -- parameters at run time ---------------------------------------------------------------------------------
    def _on_set_parameters(self, parameters: list[Any]) -> SetParametersResult:
        num_classes = self.segmenter.num_classes if self.segmenter is not None else None
        for parameter in parameters:
            if parameter.name not in node_params.DYNAMIC_PARAMETERS:
                continue
            reason = node_params.check_dynamic_update(parameter.name, parameter.value, num_classes)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for parameter in parameters:
            if parameter.name == "overlay_alpha":
                self.outputs.overlay_alpha = float(parameter.value)
            elif parameter.name == "shown_classes":
                self.outputs.shown_classes = [int(c) for c in parameter.value] or None
        return SetParametersResult(successful=True)


class SegmentNode(SegmentationNode):
    """The plain node: `start()` configures and activates at once."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        Node.__init__(self, node_name, **kwargs)
        self._setup()

    def start(self) -> None:
        self.configure_segmentation()
        self.activate_segmentation()


class LifecycleSegmentNode(SegmentationNode, LifecycleNode):
    """The managed node: configure loads, activate runs, deactivate pauses (model kept), cleanup unloads."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        LifecycleNode.__init__(self, node_name, **kwargs)
        self._setup()

    def start(self) -> None:
        self.get_logger().info("lifecycle node ready (unconfigured): use the lifecycle services to configure")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.configure_segmentation()
        except NodeConfigError as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.activate_segmentation()
        except NodeConfigError as error:
            self.get_logger().error(f"activate failed: {error}")
            return TransitionCallbackReturn.FAILURE
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.deactivate_segmentation()
        self.get_logger().info("deactivated: topics removed, model kept")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.unload_segmentation()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop()
        if self.segmenter is not None:
            self.unload_segmentation()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop()
        return TransitionCallbackReturn.SUCCESS


def main(argv: list[str] | None = None) -> int:
    """Entry point of `segment_node` (ros2 run rxssnet_ros segment_node --ros-args -p checkpoint:=...)."""
    argv = list(sys.argv if argv is None else argv)
    if asks_for_help(argv):
        print(__doc__)
        print("Parameters (set with --ros-args -p name:=value, or --params-file config/<modality>.yaml):\n")
        print(node_params.markdown_table())
        return 0
    node_class = LifecycleSegmentNode if node_params.wants_lifecycle(argv) else SegmentNode
    keep_frame_memory_mapped()

    def create(stop: threading.Event) -> SegmentationNode:
        node = node_class()
        try:
            node.start()
        except BaseException:
            with contextlib.suppress(Exception):
                node.stop()  # start() may have got as far as the worker thread
            node.destroy_node()
            raise
        return node

    def stop_worker(node: SegmentationNode) -> None:
        with contextlib.suppress(Exception):
            node.stop()

    return run_until_stopped(NODE_NAME, argv, create, (NodeConfigError, node_params.ParameterError),
                             before_destroy=stop_worker)


if __name__ == "__main__":
    sys.exit(main())
