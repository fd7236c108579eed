# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node's /diagnostics: rates, latencies, bad inputs, the serving mode, and why an input is silent.

`health_report` turns the node's state objects (`node_state`) into one `HealthReport` (published about once a
second); a silent input is explained from the ROS graph (`qos_doctor.explain_silent_input`: no publisher, wrong
type, incompatible QoS, and which published topics of the right type exist).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.node import Node

from rxssnet_ros import node_params
from rxssnet_ros.diagnostics import HealthReport, latency_values
from rxssnet_ros.inference_worker import InferenceWorker
from rxssnet_ros.node_state import NodeHealth, NodeInputs, NodeOutputs, NodeTiming, ProblemLog
from rxssnet_ros.qos_doctor import (
    CAMERA_INFO_TYPE,
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    explain_silent_input,
    qos_profile,
)


def health_report(now: float | None, settings: node_params.NodeSettings, segmenter: Any,
                  worker: InferenceWorker | None, inputs: NodeInputs, health: NodeHealth, outputs: NodeOutputs,
                  timing: NodeTiming, problems: ProblemLog,
                  explain_silence: Callable[[str, float], str]) -> HealthReport:
    """The node's state as a HealthReport (what /diagnostics publishes); silent inputs are reported to
    `problems` and explained by `explain_silence(input, seconds)`.
    """
    now = time.monotonic() if now is None else now
    report, meters = HealthReport(), timing.meters
    report.add_values({
        "backend": segmenter.backend_name, "model": segmenter.model_name,
        "checkpoint": settings.checkpoint, "modality": segmenter.preprocess_config.modality,
        "pairing": inputs.pairing.rule.describe() if inputs.pairing else "none",
        "rgb_rate_hz": meters["rgb"].rate(now), "x_rate_hz": meters["x"].rate(now),
        "pair_rate_hz": meters["pairs"].rate(now), "output_rate_hz": meters["outputs"].rate(now),
        "outputs": meters["outputs"].count, "pairs": meters["pairs"].count,
        "dropped_while_busy": worker.dropped if worker else 0,
        "bad_inputs": problems.counts.total(), "bad_input_causes": problems.counts.snapshot(),
        "degraded": outputs.last_output_degraded, "degraded_outputs": outputs.degraded_outputs,
        "x_missing_policy": settings.x_missing_policy,
        "mode": health.mode, "last_output_mode": outputs.last_output_mode, "mode_switches": health.mode_switches,
        "time_jumps": timing.time_jumps,
    })
    if health.monitors:
        report.add_values(health.input_values())
    if health.mode != "fused":
        report.warn(f"mode {health.mode} (degraded): {health.mode_cause}")
    report.add_values(latency_values("latency", timing.latency.summary()))
    report.add_values(latency_values("segment", timing.segment_ms.summary()))
    rgb_age = meters["rgb"].age(now)
    if rgb_age is not None and rgb_age < settings.x_timeout and timing.x_silent(settings.x_timeout, now):
        silent = meters["x"].silent_for(now)
        action = ("segmenting RGB only with a neutral X: output DEGRADED" if settings.x_missing_policy ==
                  "rgb_only" else "RGB frames are dropped (x_missing_policy: drop)")
        problem = f"X stream {inputs.topic('x')} silent for {silent:.1f} s (x_timeout {settings.x_timeout} s): " \
                  f"{action}"
        report.warn(problem)
        problems.report("x", "silent", problem)
    for name in inputs.subs:
        if name == "rgb_info":
            continue  # optional input
        silent = meters[name].silent_for(now)
        if silent > settings.input_timeout:
            explanation = explain_silence(name, silent)
            report.warn(explanation)
            report.values[f"{name}_silent"] = explanation
            problems.report(name, "silent_input", explanation)
    for when, message in list(inputs.qos_problems.values()):
        if now - when < 3 * settings.input_timeout:
            report.error(message)
    if worker is not None and worker.failed:
        report.values["failed_frames"] = str(worker.failed)
    return report


def explain_silence(node: Node, settings: node_params.NodeSettings, inputs: NodeInputs, name: str,
                    silent: float) -> str:
    """Why input `name` has been silent for `silent` seconds, from `node`'s view of the ROS graph."""
    topic = inputs.subs[name].topic_name
    transport = {"rgb": settings.rgb_transport, "x": settings.x_transport}.get(name, "raw")
    expected = CAMERA_INFO_TYPE if name.endswith("info") else IMAGE_TYPE if transport == "raw" else \
        COMPRESSED_IMAGE_TYPE
    hints = {"rgb": "remap ~/rgb/image, launch argument rgb_topic", "x": "remap ~/x/image, launch argument "
             "x_topic", "x_info": "remap ~/x/camera_info"}
    try:
        publishers = node.get_publishers_info_by_topic(topic)
        topics = node.get_topic_names_and_types()
    except Exception as error:  # graph queries can fail while the context shuts down
        return f"no message on {topic} for {silent:.1f} s (graph query failed: {error})"
    own_inputs = [sub.topic_name for other, sub in inputs.subs.items() if other != name]
    return explain_silent_input(topic, expected, qos_profile(settings.input_qos), publishers, topics,
                                silent, remap_hint=hints.get(name, ""),
                                exclude_prefix=node.get_fully_qualified_name() + "/", own_topics=own_inputs,
                                publisher_count=node.count_publishers)
