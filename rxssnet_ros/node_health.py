# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node's /diagnostics: rates, latencies, bad inputs, the serving mode, and why an input is silent.

A mixin of `segment_node.SegmentationMixin`: `health_report` turns the node's meters and counters into one
`HealthReport` (published about once a second); a silent input is explained from the ROS graph
(`qos_doctor.explain_silent_input`: no publisher, wrong type, incompatible QoS, and which published topics of the
right type exist).
"""

from __future__ import annotations

import time

from rxssnet_core.input_health import describe
from rxssnet_ros.diagnostics import HealthReport, latency_values, to_diagnostic_array
from rxssnet_ros.qos_doctor import (
    CAMERA_INFO_TYPE,
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    explain_silent_input,
    qos_profile,
)


class NodeHealthMixin:
    """The node's health as /diagnostics reports it."""

    def _publish_diagnostics(self) -> None:
        if not self._active:
            return
        now = time.monotonic()
        report = self.health_report(now)
        array = to_diagnostic_array(f"{self.get_fully_qualified_name()}: segmentation",
                                    self.get_fully_qualified_name(), [report], self.get_clock().now().to_msg())
        self._pub["diagnostics"].publish(array)

    def health_report(self, now: float | None = None) -> HealthReport:
        """The node's state as a HealthReport (what /diagnostics publishes)."""
        now = time.monotonic() if now is None else now
        settings, worker, report = self.settings, self._worker, HealthReport()
        meters = self._meters
        report.add_values({
            "backend": self.segmenter.backend_name, "model": self.segmenter.model_name,
            "checkpoint": settings.checkpoint, "modality": self.segmenter.preprocess_config.modality,
            "pairing": self._pairing.rule.describe() if self._pairing else "none",
            "rgb_rate_hz": meters["rgb"].rate(now), "x_rate_hz": meters["x"].rate(now),
            "pair_rate_hz": meters["pairs"].rate(now), "output_rate_hz": meters["outputs"].rate(now),
            "outputs": meters["outputs"].count, "pairs": meters["pairs"].count,
            "dropped_while_busy": worker.dropped if worker else 0,
            "bad_inputs": self._bad_inputs.total(), "bad_input_causes": self._bad_inputs.snapshot(),
            "degraded": self._last_output_degraded, "degraded_outputs": self._degraded_outputs,
            "x_missing_policy": settings.x_missing_policy,
            "mode": self._mode, "last_output_mode": self._last_output_mode, "mode_switches": self._mode_switches,
            "time_jumps": self.time_jumps,
        })
        if self._monitors:
            with self._health_lock:
                report.add_values({f"{name}_health": describe(name, m.state) for name, m in self._monitors.items()})
        if self._mode != "fused":
            report.warn(f"mode {self._mode} (degraded): {self._mode_cause}")
        report.add_values(latency_values("latency", self._latency.summary()))
        report.add_values(latency_values("segment", self._segment_ms.summary()))
        rgb_flowing = meters["rgb"].age(now) is not None and meters["rgb"].age(now) < settings.x_timeout
        if rgb_flowing and self._x_silent(now):
            silent = meters["x"].silent_for(now)
            action = ("segmenting RGB only with a neutral X: output DEGRADED" if settings.x_missing_policy ==
                      "rgb_only" else "RGB frames are dropped (x_missing_policy: drop)")
            problem = f"X stream {self._topic('x')} silent for {silent:.1f} s (x_timeout {settings.x_timeout} s): " \
                      f"{action}"
            report.warn(problem)
            self._report("x", "silent", problem)
        for name in self._subs:
            if name == "rgb_info":
                continue  # optional input
            silent = meters[name].silent_for(now)
            if silent > settings.input_timeout:
                explanation = self._explain_silence(name, silent)
                report.warn(explanation)
                report.values[f"{name}_silent"] = explanation
                self._report(name, "silent_input", explanation)
        for when, message in list(self._qos_problems.values()):
            if now - when < 3 * settings.input_timeout:
                report.error(message)
        if worker is not None and worker.failed:
            report.values["failed_frames"] = str(worker.failed)
        return report

    def _explain_silence(self, name: str, silent: float) -> str:
        sub = self._subs[name]
        topic = sub.topic_name
        transport = {"rgb": self.settings.rgb_transport, "x": self.settings.x_transport}.get(name, "raw")
        expected = CAMERA_INFO_TYPE if name.endswith("info") else IMAGE_TYPE if transport == "raw" else \
            COMPRESSED_IMAGE_TYPE
        hints = {"rgb": "remap ~/rgb/image, launch argument rgb_topic", "x": "remap ~/x/image, launch argument "
                 "x_topic", "x_info": "remap ~/x/camera_info"}
        try:
            publishers = self.get_publishers_info_by_topic(topic)
            topics = self.get_topic_names_and_types()
        except Exception as error:  # graph queries can fail while the context shuts down
            return f"no message on {topic} for {silent:.1f} s (graph query failed: {error})"
        own_inputs = [sub.topic_name for other, sub in self._subs.items() if other != name]
        return explain_silent_input(topic, expected, qos_profile(self.settings.input_qos), publishers, topics,
                                    silent, remap_hint=hints.get(name, ""),
                                    exclude_prefix=self.get_fully_qualified_name() + "/", own_topics=own_inputs,
                                    publisher_count=self.count_publishers)
