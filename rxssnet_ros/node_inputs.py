"""The segment node's input side: subscriptions, each message's checks, and pairing (executor thread).

    subscriber (message_filters.Subscriber) -> GateFilter(the input's check: _on_rgb / _on_x / _on_x_info)
        -> PairingFilter (the one pairing rule, `synchronizer.PairingRule`, as `rxssnet bag eval` pairs)
        -> _on_pair -> Job -> InferenceWorker (segment_node._process, worker thread)

Each check is cheap: rate, stamp order, layout (`image_conversion.check_image_layout`), the degraded-mode
observation of that camera (`degraded_modes`). A message that fails is counted and logged (throttled) and
dropped; the node keeps running.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from rxssnet_core.degradation import missing_rgb
from rxssnet_ros.compat import SubscriptionEventCallbacks
from rxssnet_ros.image_conversion import (
    RGB_ENCODINGS,
    X_ENCODINGS,
    ImageConversionError,
    check_image_layout,
    message_image_size,
)
from rxssnet_ros.node_frames import Job
from rxssnet_ros.qos_doctor import explain_incompatible_event, qos_profile
from rxssnet_ros.ros_time import stamp_ns
from rxssnet_ros.synchronizer import GateFilter, PairingFilter, PairingRule, SubscriberFilter

try:  # message_filters comes with every ROS 2 install; a pip-only install subscribes through SubscriberFilter
    from message_filters import Subscriber as InputSubscriber
except ImportError:
    InputSubscriber = SubscriberFilter


class NodeInputsMixin:
    """Subscriptions and per-message checks of the segment node (`segment_node.SegmentationMixin`).

    Stamps that go back by more than time_jump_threshold reset the time line (`time_jumps`). Uses the node's
    `settings`, `_subs`, `_meters`, `_last_stamp`, `_rgb_arrivals`, `_topic`, `_report`, `_worker` and
    the degraded-mode hooks (`_observe`, `_failed`, `_serving_mode`)."""

    def _subscribe_inputs(self, settings: Any) -> None:
        """Create the pairing filter and the input chains (activate)."""
        needs_info = self.aligner.needs_camera_info
        # the one pairing rule, as `rxssnet bag eval` applies it (rxssnet_ros.synchronizer)
        self._pairing = PairingFilter(PairingRule(settings.slop, settings.queue_size,
                                                  settings.inter_message_lower_bound), 3 if needs_info else 2)
        self._pairing.registerCallback(self._on_pair)
        self._last_stamp.clear()
        in_qos = qos_profile(settings.input_qos)
        # subscriber -> the input's checks (GateFilter) -> the pairing rule, as message_filters chains filters
        inputs = [("rgb", *self._image_input("~/rgb/image", settings.rgb_transport), self._on_rgb),
                  ("x", *self._image_input("~/x/image", settings.x_transport), self._on_x)]
        if needs_info:
            inputs.append(("x_info", CameraInfo, "~/x/camera_info", self._on_x_info))
        gates = []
        for name, msg_type, topic, admit in [*inputs, ("rgb_info", CameraInfo, "~/rgb/camera_info", None)]:
            events = SubscriptionEventCallbacks(incompatible_qos=partial(self._on_incompatible_qos, name))
            source = InputSubscriber(self, msg_type, topic, qos_profile=in_qos, event_callbacks=events)
            self._subs[name] = source.sub
            self._meters[name].reset_clock()
            if admit is None:
                source.registerCallback(self._on_rgb_info)  # the latest RGB camera_info is kept, not paired
            else:
                gates.append(GateFilter(source, admit))
        self._pairing.connectInput(*gates)

    def _image_input(self, base: str, transport: str) -> tuple[type, str]:
        """Message type and topic of an image input: raw is `base`; another transport subscribes
        CompressedImage on `<base resolved with remaps>/<transport>`, as image_transport does (so that remapping
        ~/rgb/image also moves ~/rgb/image/compressed)."""
        if transport == "raw":
            return Image, base
        return CompressedImage, f"{self.resolve_topic_name(base)}/{transport}"

    # -- input callbacks (executor thread: cheap checks only) ---------------------------------------------------
    def _admit(self, name: str, msg: Any, role: str, allowed: tuple[str, ...] | None) -> int | None:
        """Rate, stamp order and layout checks; returns the stamp in ns, or None when the message is dropped."""
        self._meters[name].tick()
        stamp = stamp_ns(msg.header.stamp)
        last = self._last_stamp.get(name)
        if last is not None and stamp < last and not self._stamp_jumped_back(name, role, stamp, last):
            self._report(name, "out_of_order", f"{role} on {self._topic(name)}: stamp {stamp / 1e9:.3f} s is older "
                         f"than the previous message ({last / 1e9:.3f} s) by less than time_jump_threshold "
                         f"({self.settings.time_jump_threshold} s): dropped as out of order (a larger step back "
                         "counts as a time jump: a bag played again)")
            return None
        self._last_stamp[name] = stamp
        if allowed is not None:
            try:
                check_image_layout(msg, f"{role} on {self._topic(name)}", allowed, self.settings.max_image_pixels)
            except ImageConversionError as error:
                self._report(name, error.cause, f"{error}: dropped", detail=error.detail)
                return None
        return stamp

    def _x_silent(self, now: float | None = None) -> bool:
        return self._meters["x"].silent_for(now) > self.settings.x_timeout

    # The input gates: True passes the message on to the pairing rule (see activate_segmentation).
    def _on_rgb(self, msg: Image) -> bool:
        stamp = self._admit("rgb", msg, "RGB image", RGB_ENCODINGS)
        if stamp is None or not self._active:
            return False
        self._observe("rgb", msg, stamp)
        if self._monitors and self._failed("rgb"):
            return False  # mode x_only is driven by the X images; mode none drops the frame
        if self.settings.x_missing_policy == "rgb_only" and self._failed("x"):
            self._meters["pairs"].tick()
            self._submit(Job(msg, None, None, degraded=True, mode="rgb_only"))
            return False
        if self._monitors and self._failed("x"):
            return False  # x_missing_policy drop: a pair with a failed X would be served as if fused
        self._rgb_arrivals[stamp] = time.monotonic()
        while len(self._rgb_arrivals) > self.settings.queue_size + 2:  # never more than the pairing rule holds
            self._rgb_arrivals.popitem(last=False)
        return True

    def _on_x(self, msg: Image) -> bool:
        stamp = self._admit("x", msg, "X image", X_ENCODINGS)
        if stamp is None or not self._active:
            return False
        x_array = self._observe("x", msg, stamp)
        if self._monitors and self._failed("rgb"):
            x_size = message_image_size(msg, x_array)
            if self._serving_mode() == "x_only" and (self._rgb_geometry or x_size):
                self._meters["pairs"].tick()
                (height, width), frame_id = self._rgb_geometry or (x_size, msg.header.frame_id)
                header = type(msg.header)(stamp=msg.header.stamp, frame_id=frame_id)
                self._submit(Job(missing_rgb(height, width), msg, None, degraded=True, mode="x_only",
                                 header=header))
            return False
        return True

    def _on_x_info(self, msg: CameraInfo) -> bool:
        return self._admit("x_info", msg, "X camera_info", None) is not None and self._active

    def _on_rgb_info(self, msg: CameraInfo) -> None:
        self._meters["rgb_info"].tick()
        self._rgb_info = msg

    def _on_pair(self, rgb: Image, x: Image, x_info: CameraInfo | None = None) -> None:
        self._meters["pairs"].tick()
        self._submit(Job(rgb, x, x_info, rgb_arrival=self._rgb_arrivals.pop(stamp_ns(rgb.header.stamp), None)))

    def _submit(self, job: Job) -> None:
        """Hand a pair to the worker; a waiting pair it replaces is counted in worker.dropped."""
        if self._worker is not None:
            self._worker.submit(job)

    def _on_incompatible_qos(self, name: str, info: Any) -> None:
        sub = self._subs.get(name)
        topic = sub.topic_name if sub is not None else name
        message = explain_incompatible_event(topic, info.last_policy_kind, qos_profile(self.settings.input_qos),
                                             info.total_count)
        self._qos_problems[name] = (time.monotonic(), message)
        self._report(name, "incompatible_qos", message, level="error")
