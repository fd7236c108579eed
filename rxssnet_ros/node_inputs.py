# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The segment node's input side: subscriptions, each message's checks, and pairing (executor thread).

    subscriber (message_filters.Subscriber) -> GateFilter(the input's check: on_rgb / on_x / on_x_info)
        -> PairingFilter (the one pairing rule, `synchronizer.PairingRule`, as `rxssnet bag eval` pairs)
        -> on_pair -> Job -> submit (InferenceWorker: segment_node._process, worker thread)

Each check is cheap: rate, stamp order, layout (`image_conversion.check_image_layout`), the degraded-mode
observation of that camera (`degraded_modes`). A message that fails is counted and logged (throttled) and
dropped; the node keeps running. `InputGates` writes `NodeInputs` (and feeds `NodeHealth`, ticks `NodeTiming`'s
meters); the node creates it at activate and hands it every object it uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from rxssnet_core.degradation import missing_rgb
from rxssnet_ros import degraded_modes, node_params
from rxssnet_ros.compat import SubscriptionEventCallbacks
from rxssnet_ros.image_conversion import (
    RGB_ENCODINGS,
    X_ENCODINGS,
    ImageConversionError,
    check_image_layout,
    message_image_size,
)
from rxssnet_ros.node_frames import Job
from rxssnet_ros.node_state import NodeHealth, NodeInputs, NodeTiming, ProblemLog
from rxssnet_ros.qos_doctor import explain_incompatible_event, qos_profile
from rxssnet_ros.ros_time import stamp_ns
from rxssnet_ros.synchronizer import GateFilter, PairingFilter, PairingRule, SubscriberFilter
from rxssnet_ros.time_jumps import stamp_jump

try:  # message_filters comes with every ROS 2 install; a pip-only install subscribes through SubscriberFilter
    from message_filters import Subscriber as InputSubscriber
except ImportError:
    InputSubscriber = SubscriberFilter


class InputGates:
    """Subscriptions and per-message checks of the segment node (executor thread).

    Stamps that go back by more than time_jump_threshold call `on_time_jump(cause)` (`time_jumps`); admitted
    pairs and degraded frames go to `submit`. `open` is False from deactivate on: nothing more is admitted.
    """

    def __init__(self, node: Node, settings: node_params.NodeSettings, needs_camera_info: bool, inputs: NodeInputs,
                 health: NodeHealth, timing: NodeTiming, problems: ProblemLog, submit: Callable[[Job], None],
                 on_time_jump: Callable[[str], None]) -> None:
        self.node, self.settings, self.needs_camera_info = node, settings, needs_camera_info
        self.inputs, self.health, self.timing, self.problems = inputs, health, timing, problems
        self.submit, self.on_time_jump = submit, on_time_jump
        self.open = True

    def subscribe(self) -> None:
        """Create the pairing filter and the input chains (activate)."""
        settings, needs_info = self.settings, self.needs_camera_info
        # the one pairing rule, as `rxssnet bag eval` applies it (rxssnet_ros.synchronizer)
        pairing = PairingFilter(PairingRule(settings.slop, settings.queue_size, settings.inter_message_lower_bound),
                                3 if needs_info else 2)
        pairing.registerCallback(self.on_pair)
        self.inputs.pairing = pairing
        self.inputs.last_stamp.clear()
        in_qos = qos_profile(settings.input_qos)
        # subscriber -> the input's checks (GateFilter) -> the pairing rule, as message_filters chains filters
        inputs = [("rgb", *self._image_input("~/rgb/image", settings.rgb_transport), self.on_rgb),
                  ("x", *self._image_input("~/x/image", settings.x_transport), self.on_x)]
        if needs_info:
            inputs.append(("x_info", CameraInfo, "~/x/camera_info", self.on_x_info))
        gates = []
        for name, msg_type, topic, admit in [*inputs, ("rgb_info", CameraInfo, "~/rgb/camera_info", None)]:
            events = SubscriptionEventCallbacks(incompatible_qos=partial(self._on_incompatible_qos, name))
            source = InputSubscriber(self.node, msg_type, topic, qos_profile=in_qos, event_callbacks=events)
            self.inputs.subs[name] = source.sub
            self.timing.meters[name].reset_clock()
            if admit is None:
                source.registerCallback(self.on_rgb_info)  # the latest RGB camera_info is kept, not paired
            else:
                gates.append(GateFilter(source, admit))
        pairing.connectInput(*gates)

    def _image_input(self, base: str, transport: str) -> tuple[type, str]:
        """Message type and topic of an image input: raw is `base`; another transport subscribes
        CompressedImage on `<base resolved with remaps>/<transport>`, as image_transport does (so that remapping
        ~/rgb/image also moves ~/rgb/image/compressed)."""
        if transport == "raw":
            return Image, base
        return CompressedImage, f"{self.node.resolve_topic_name(base)}/{transport}"

    # -- input callbacks (executor thread: cheap checks only) ---------------------------------------------------
    def _admit(self, name: str, msg: Any, role: str, allowed: tuple[str, ...] | None) -> int | None:
        """Rate, stamp order and layout checks; returns the stamp in ns, or None when the message is dropped."""
        settings, inputs = self.settings, self.inputs
        self.timing.meters[name].tick()
        stamp = stamp_ns(msg.header.stamp)
        last = inputs.last_stamp.get(name)
        if last is not None and stamp < last:
            jump = stamp_jump(stamp, last, settings.time_jump_threshold, f"{role} stamps on {inputs.topic(name)}")
            if jump is None:
                self.problems.report(
                    name, "out_of_order", f"{role} on {inputs.topic(name)}: stamp {stamp / 1e9:.3f} s is older than "
                    f"the previous message ({last / 1e9:.3f} s) by less than time_jump_threshold "
                    f"({settings.time_jump_threshold} s): dropped as out of order (a larger step back counts as a "
                    "time jump: a bag played again)")
                return None
            self.on_time_jump(jump)
        inputs.last_stamp[name] = stamp
        if allowed is not None:
            try:
                check_image_layout(msg, f"{role} on {inputs.topic(name)}", allowed, settings.max_image_pixels)
            except ImageConversionError as error:
                self.problems.report(name, error.cause, f"{error}: dropped", detail=error.detail)
                return None
        return stamp

    def _failed(self, stream: str) -> bool:
        return self.health.failed(stream, self.timing.x_silent(self.settings.x_timeout))

    # The input gates: True passes the message on to the pairing rule (see subscribe).
    def on_rgb(self, msg: Image) -> bool:
        """Admit an RGB image to pairing, serve it alone (rgb_only) or drop it."""
        stamp = self._admit("rgb", msg, "RGB image", RGB_ENCODINGS)
        if stamp is None or not self.open:
            return False
        degraded_modes.observe("rgb", msg, stamp, self.health, self.inputs)
        watched = bool(self.health.monitors)
        if watched and self._failed("rgb"):
            return False  # mode x_only is driven by the X images; mode none drops the frame
        if self.settings.x_missing_policy == "rgb_only" and self._failed("x"):
            self.timing.meters["pairs"].tick()
            self.submit(Job(msg, None, None, degraded=True, mode="rgb_only"))
            return False
        if watched and self._failed("x"):
            return False  # x_missing_policy drop: a pair with a failed X would be served as if fused
        # never more than the pairing rule holds
        self.inputs.remember_arrival(stamp, time.monotonic(), self.settings.queue_size + 2)
        return True

    def on_x(self, msg: Image) -> bool:
        """Admit an X image to pairing, or serve it alone (x_only) while RGB has failed."""
        stamp = self._admit("x", msg, "X image", X_ENCODINGS)
        if stamp is None or not self.open:
            return False
        x_array = degraded_modes.observe("x", msg, stamp, self.health, self.inputs)
        if self.health.monitors and self._failed("rgb"):
            x_size = message_image_size(msg, x_array)
            serving = self.health.serving_mode(self.settings, self.timing.x_silent(self.settings.x_timeout))
            geometry = self.inputs.rgb_geometry
            if geometry is None and x_size is not None:
                geometry = (x_size, msg.header.frame_id)
            if serving == "x_only" and geometry is not None:
                self.timing.meters["pairs"].tick()
                (height, width), frame_id = geometry
                header = type(msg.header)(stamp=msg.header.stamp, frame_id=frame_id)
                self.submit(Job(missing_rgb(height, width), msg, None, degraded=True, mode="x_only",
                                header=header))
            return False
        return True

    def on_x_info(self, msg: CameraInfo) -> bool:
        """Admit an X camera_info to pairing (x_alignment needs it)."""
        return self._admit("x_info", msg, "X camera_info", None) is not None and self.open

    def on_rgb_info(self, msg: CameraInfo) -> None:
        """Keep the latest RGB camera_info (republished with the labels)."""
        self.timing.meters["rgb_info"].tick()
        self.inputs.rgb_info = msg

    def on_pair(self, rgb: Image, x: Image, x_info: CameraInfo | None = None) -> None:
        """Hand a pair of the pairing rule to the worker."""
        self.timing.meters["pairs"].tick()
        arrival = self.inputs.rgb_arrivals.pop(stamp_ns(rgb.header.stamp), None)
        self.submit(Job(rgb, x, x_info, rgb_arrival=arrival))

    def _on_incompatible_qos(self, name: str, info: Any) -> None:
        message = explain_incompatible_event(self.inputs.topic(name), info.last_policy_kind,
                                             qos_profile(self.settings.input_qos), info.total_count)
        self.inputs.qos_problems[name] = (time.monotonic(), message)
        self.problems.report(name, "incompatible_qos", message, level="error")
