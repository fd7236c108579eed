# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Soak benchmark: segment_node with failure detection under 30 Hz input for N minutes, one failure per minute.

The real node runs in its own process (`python -m rxssnet_ros.segment_node`, detect_input_failures on,
x_missing_policy rgb_only, rgb_missing_policy x_only) and this process feeds it RGB (rgb8) and depth (32FC1)
pairs at --rate Hz. Every --period seconds (default 60) one failure is injected, each kind in turn
(`FAILURES`), for 40 % of the period, then the input recovers:
    silent      the depth camera stops publishing            -> rgb_only   (switch time: x_timeout)
    frozen      the depth camera repeats one image            -> rgb_only   (frozen_timeout)
    blank       the depth camera publishes zeros (no depth)   -> rgb_only   (failure_enter_time)
    saturated   the RGB camera publishes white (sun)          -> x_only     (failure_enter_time)
    nonfinite   the depth camera publishes NaN (blinded)      -> rgb_only   (failure_enter_time)
Measured: the node's RSS growth (%) from the end of the first cycle to the end, the longest gap between two
labels in each cycle against that failure's configured switch time, and the mode switches: every switch must be
logged once and announced once on ~/mode (into the degraded mode, and back to fused). Without --checkpoint a
random RXSSNet-atto for depth is built: its speed, not its accuracy, matters here.

    python -m rxssnet_ros.benchmarks.soak [--minutes 10] [--period 60] [--rate 30] [--height 120 --width 160]
        [--checkpoint model.safetensors] [--domain-id N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from rxssnet_core.benchmarks import machine_line
from rxssnet_core.errors import UsageError
from rxssnet_ros.benchmarks.node_latency import random_checkpoint
from rxssnet_ros.benchmarks.node_process import NodeUnderTest, ros_environment, rss_mib, wait_connected
from rxssnet_ros.image_conversion import array_to_image
from rxssnet_ros.ros_time import time_fields

# kind -> (the input that fails, the mode the node must switch to, the node parameter that sets the switch time)
FAILURES = {
    "silent": ("x", "rgb_only", "x_timeout"),
    "frozen": ("x", "rgb_only", "frozen_timeout"),
    "blank": ("x", "rgb_only", "failure_enter_time"),
    "saturated": ("rgb", "x_only", "failure_enter_time"),
    "nonfinite": ("x", "rgb_only", "failure_enter_time"),
}
NODE_PARAMS = {"detect_input_failures": True, "x_missing_policy": "rgb_only", "rgb_missing_policy": "x_only",
               "x_timeout": 0.5, "rgb_timeout": 0.5, "frozen_timeout": 0.5, "failure_enter_time": 0.3,
               "failure_exit_time": 1.0, "health_check_period": 0.05, "input_timeout": 3600.0,
               "diagnostics_period": 1.0}
FAIL_START, FAIL_SHARE = 0.25, 0.4  # each cycle: healthy for 25 % of the period, failed for 40 %, then recovered
GAP_SLACK_S = 0.25  # a label gap may exceed the switch time by this much (a frame period, a check, inference)
RSS_TARGET_PERCENT = 5.0
# rclpy's log line: "[WARN] [<epoch seconds>] [<node>]: mode fused -> rgb_only: <cause>"
SWITCH_LOG = re.compile(r"(?:\[(\d+\.\d+)\][^\n]*?)?mode (fused|rgb_only|x_only|none) -> (fused|rgb_only|x_only|none)")
DISTINCT_FRAMES = 8  # healthy cameras never repeat an image within this many frames


@dataclass(frozen=True)
class Injection:
    """One failure: `kind` of FAILURES on input `stream` from start_s to end_s (seconds since the run began)."""

    cycle: int
    kind: str
    stream: str
    expected_mode: str
    switch_param: str
    start_s: float
    end_s: float
    cycle_end_s: float


def failure_schedule(duration_s: float, period_s: float) -> list[Injection]:
    """One injection per whole `period_s` of `duration_s`, the kinds of FAILURES in turn."""
    if period_s <= 0 or duration_s < period_s:
        raise UsageError(f"--minutes ({duration_s / 60:g} min) must cover at least one --period ({period_s:g} s)")
    kinds = list(FAILURES)
    schedule = []
    for cycle in range(int(duration_s // period_s)):
        kind = kinds[cycle % len(kinds)]
        stream, mode, param = FAILURES[kind]
        begin = cycle * period_s
        schedule.append(Injection(cycle, kind, stream, mode, param, begin + FAIL_START * period_s,
                                  begin + (FAIL_START + FAIL_SHARE) * period_s, begin + period_s))
    return schedule


def active_failure(schedule: Sequence[Injection], t: float) -> Injection | None:
    for injection in schedule:
        if injection.start_s <= t < injection.end_s:
            return injection
    return None


def longest_gap(receipts: Sequence[float], begin: float, end: float) -> float:
    """Longest time without a label within [begin, end) (receipt times in the same clock; the window's edges
    count as label times, so a silence that starts or ends a window is measured too).
    """
    inside = sorted(t for t in receipts if begin <= t < end)
    times = [begin, *inside, end]
    return float(max(np.diff(times))) if len(times) > 1 else float(end - begin)


def parse_switches(log_text: str, until_epoch_s: float | None = None) -> list[tuple[str, str]]:
    """Every mode switch the node logged, as (from, to), in order; with `until_epoch_s`, only those logged before
    it (the cameras stopping at the end of a run is not a switch of the run). Lines without a time count.
    """
    return [(m.group(2), m.group(3)) for m in SWITCH_LOG.finditer(log_text)
            if until_epoch_s is None or m.group(1) is None or float(m.group(1)) < until_epoch_s]


def expected_switches(schedule: Sequence[Injection]) -> list[tuple[str, str]]:
    """Into the degraded mode and back to fused, once per injection."""
    return [pair for injection in schedule for pair in (("fused", injection.expected_mode),
                                                        (injection.expected_mode, "fused"))]


def rss_growth_percent(samples: Sequence[tuple[float, float]], baseline_after_s: float) -> tuple[float, float, float]:
    """(baseline MiB, final MiB, growth %): baseline = the first sample at or after `baseline_after_s`."""
    usable = [(t, rss) for t, rss in samples if np.isfinite(rss)]
    if not usable:
        return float("nan"), float("nan"), float("nan")
    baseline = next((rss for t, rss in usable if t >= baseline_after_s), usable[0][1])
    final = usable[-1][1]
    return baseline, final, 100.0 * (final - baseline) / baseline


def frame_images(kind: str | None, frame: int, rgb: Sequence[Any], x: Sequence[Any], bad_rgb: Mapping[str, Any],
                 bad_x: Mapping[str, Any]) -> tuple[Any, Any | None]:
    """The (RGB, X) images of frame `frame` while failure `kind` is injected (None: healthy); X None: silent.
    A failure touches only its own camera: the other keeps sending distinct, healthy frames.
    """
    rgb_image = bad_rgb.get(kind or "", rgb[frame % len(rgb)])
    if kind == "silent":
        return rgb_image, None
    return rgb_image, x[0] if kind == "frozen" else bad_x.get(kind or "", x[frame % len(x)])


class Feeder:
    """Publishes the camera pairs (own rclpy context), records label receipt times and ~/mode announcements."""

    def __init__(self, namespace: str, height: int, width: int) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("soak_feeder", context=self.context)
        self.topic = f"{namespace}/segment_node"
        self.rgb_pub = self.node.create_publisher(Image, f"{self.topic}/rgb/image", qos_profile_sensor_data)
        self.x_pub = self.node.create_publisher(Image, f"{self.topic}/x/image", qos_profile_sensor_data)
        self.label_times: list[float] = []
        self.modes: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._keep = [self.node.create_subscription(Image, f"{self.topic}/labels", self._on_labels, 10),
                      self.node.create_subscription(String, f"{self.topic}/mode", self._on_mode, latched)]
        rng = np.random.default_rng(0)
        # Healthy frames differ from one another (a frozen camera is one that repeats); depth in metres.
        self.rgb = [array_to_image(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "rgb8")
                    for _ in range(DISTINCT_FRAMES)]
        self.x = [array_to_image(rng.uniform(0.5, 8.0, (height, width)).astype(np.float32), "32FC1")
                  for _ in range(DISTINCT_FRAMES)]
        self.bad_x = {"blank": array_to_image(np.zeros((height, width), np.float32), "32FC1"),
                      "nonfinite": array_to_image(np.full((height, width), np.nan, np.float32), "32FC1")}
        self.bad_rgb = {"saturated": array_to_image(np.full((height, width, 3), 255, np.uint8), "rgb8")}
        for msg in [*self.rgb, *self.x, *self.bad_x.values(), *self.bad_rgb.values()]:
            msg.header.frame_id = "camera"
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_labels(self, msg: Any) -> None:
        with self._lock:
            self.label_times.append(time.perf_counter())

    def _on_mode(self, msg: Any) -> None:
        with self._lock:
            self.modes.append((time.perf_counter(), json.loads(msg.data).get("mode", "?")))

    def wait_connected(self, timeout: float) -> bool:
        return wait_connected(self.node, self.rgb_pub, self.x_pub, self.topic, timeout)

    def publish(self, frame: int, stamp_ns: int, failure: Injection | None) -> None:
        """Frame `frame` of both cameras, with `failure` (if any) applied to its input."""
        kind = failure.kind if failure is not None else None
        rgb, x = frame_images(kind, frame, self.rgb, self.x, self.bad_rgb, self.bad_x)
        stamp = Time(**time_fields(stamp_ns))
        rgb.header.stamp = stamp
        self.rgb_pub.publish(rgb)
        if x is not None:
            x.header.stamp = stamp
            self.x_pub.publish(x)

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(10)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def soak(checkpoint: str, env: dict[str, str], duration_s: float, period_s: float, rate: float, height: int,
         width: int, progress: bool = True) -> dict[str, Any]:
    """Runs the node for `duration_s` with the failure schedule; returns measurements (see `report_rows`)."""
    schedule = failure_schedule(duration_s, period_s)
    namespace = "/soak"
    params = {**NODE_PARAMS, "checkpoint": checkpoint, "max_image_pixels": height * width}
    node = NodeUnderTest(namespace, params, env)
    feeder = Feeder(namespace, height, width)
    rss: list[tuple[float, float]] = []
    try:
        if not feeder.wait_connected(120):
            raise RuntimeError(f"segment_node did not come up:\n{node.output()}")
        time.sleep(1.0)
        start_ns, start = time.time_ns(), time.perf_counter()
        end_epoch_s = start_ns / 1e9 + duration_s  # the node logs in wall-clock (system) time
        frame, next_rss, last_print = 0, 0.0, -1
        while (elapsed := time.perf_counter() - start) < duration_s:
            feeder.publish(frame, start_ns + int(frame / rate * 1e9), active_failure(schedule, elapsed))
            frame += 1
            if elapsed >= next_rss:
                rss.append((elapsed, rss_mib(node.proc.pid)))
                next_rss += 2.0
            if progress and int(elapsed // 10) != last_print:
                last_print = int(elapsed // 10)
                print(f"soak: {elapsed:.0f}/{duration_s:.0f} s, {len(feeder.label_times)} labels", file=sys.stderr,
                      flush=True)
            time.sleep(max(0.0, start + frame / rate - time.perf_counter()))
        rss.append((time.perf_counter() - start, rss_mib(node.proc.pid)))
        time.sleep(1.0)
        labels = [t - start for t in feeder.label_times]
        modes = [(t - start, mode) for t, mode in feeder.modes]
    finally:
        feeder.close()
        node.stop()
    return {"schedule": schedule, "frames": frame, "labels": labels, "modes": modes, "rss": rss,
            "log": node.output(), "end_epoch_s": end_epoch_s, "duration_s": duration_s, "period_s": period_s}


def report_rows(result: dict[str, Any], switch_times: dict[str, float]) -> list[dict[str, Any]]:
    """One row per injection: longest label gap vs switch time, and the switches logged / announced."""
    logged = parse_switches(result["log"], result.get("end_epoch_s"))
    rows = []
    for injection in result["schedule"]:
        begin = injection.cycle * result["period_s"]
        gap = longest_gap(result["labels"], begin + 1.0 if injection.cycle == 0 else begin, injection.cycle_end_s)
        # The same measure over the healthy stretch before the failure: what the load alone costs.
        healthy_gap = longest_gap(result["labels"], begin + 1.0 if injection.cycle == 0 else begin,
                                  injection.start_s)
        switch_s = switch_times[injection.switch_param]
        modes = [mode for t, mode in result["modes"] if begin <= t < injection.cycle_end_s]
        log_pairs = logged[2 * injection.cycle:2 * injection.cycle + 2]
        want = [("fused", injection.expected_mode), (injection.expected_mode, "fused")]
        rows.append({"cycle": injection.cycle, "kind": injection.kind, "input": injection.stream,
                     "mode": injection.expected_mode, "switch_param": injection.switch_param, "switch_s": switch_s,
                     "longest_gap_s": gap, "healthy_gap_s": healthy_gap, "gap_ok": gap <= switch_s + GAP_SLACK_S,
                     "announced": modes, "logged": log_pairs,
                     "switches_ok": log_pairs == want and modes == [injection.expected_mode, "fused"]})
    # Every switch exactly once, over the whole run: nothing logged or announced beyond the expected pairs (the
    # latched "fused" announced before the first frame is not a switch).
    once = logged == expected_switches(result["schedule"]) and \
        [mode for t, mode in result["modes"] if 0 <= t < result["duration_s"]] == \
        [b for _, b in expected_switches(result["schedule"])]
    for row in rows:
        row["switches_ok"] = row["switches_ok"] and once
    return rows


def markdown(result: dict[str, Any], rows: list[dict[str, Any]], command: str) -> str:
    baseline_after = result["period_s"] if len(result["schedule"]) > 1 else min(5.0, result["duration_s"] / 2)
    base, final, growth = rss_growth_percent(result["rss"], baseline_after)
    lines = [f"Soak: `{command}`", "", f"Machine: {machine_line()}", "",
             f"{result['duration_s'] / 60:g} min of {result['frames'] / result['duration_s']:.1f} Hz RGB (rgb8) + "
             f"depth (32FC1) input, one failure every {result['period_s']:g} s for {FAIL_SHARE:.0%} of it; "
             f"{len(result['labels'])} labels out.", "",
             "| cycle | failure | input | mode | switch time (s) | longest label gap (s) | same, healthy stretch "
             "(s) | gap ok | switches logged | announced on ~/mode | each switch once |",
             "|---:|---|---|---|---:|---:|---:|---|---|---|---|"]
    for row in rows:
        logged = ", ".join(f"{a}->{b}" for a, b in row["logged"]) or "none"
        cells = [str(row["cycle"]), row["kind"], row["input"], row["mode"],
                 f"{row['switch_s']:g} ({row['switch_param']})", f"{row['longest_gap_s']:.2f}",
                 f"{row['healthy_gap_s']:.2f}", "yes" if row["gap_ok"] else "NO", logged,
                 " -> ".join(row["announced"]) or "none", "yes" if row["switches_ok"] else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    verdict = "meets" if growth < RSS_TARGET_PERCENT else "MISSES"
    lines += ["", f"Node RSS {base:.1f} MiB at {baseline_after:g} s -> {final:.1f} MiB at the end: "
                  f"{growth:+.2f} % ({verdict} the < {RSS_TARGET_PERCENT:g} % target). Label gaps may exceed the "
                  f"switch time by {GAP_SLACK_S} s (a frame, a health check, one inference)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_ros.benchmarks.soak", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    parser.add_argument("--period", type=float, default=60.0, help="seconds between injected failures (default 60)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--checkpoint", help="RXSSNet checkpoint for depth (default: a random atto model)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: derived from pid)")
    parser.add_argument("--json", action="store_true", help="also print the measurements as JSON")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.height < 16 or args.width < 16:
        parser.error("--rate must be positive and --height/--width at least 16")
    if args.period < 3.0:
        parser.error(f"--period {args.period:g} is too short: a failure must outlast the switch and recovery "
                     "times (use at least 3 s)")
    try:
        failure_schedule(args.minutes * 60.0, args.period)
    except ValueError as error:
        parser.error(str(error))
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        parser.error(f"--checkpoint {args.checkpoint!r} does not exist")
    env = ros_environment(args.domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                            "FASTDDS_DEFAULT_PROFILES_FILE") if k in env})
    command = "python -m rxssnet_ros.benchmarks.soak " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = args.checkpoint or random_checkpoint(directory, "depth")
        result = soak(checkpoint, env, args.minutes * 60.0, args.period, args.rate, args.height, args.width)
    rows = report_rows(result, {key: float(NODE_PARAMS[key]) for key in ("x_timeout", "rgb_timeout",
                                                                         "frozen_timeout", "failure_enter_time")})
    print(markdown(result, rows, command.strip()))
    if args.json:
        print(json.dumps({"rows": rows, "rss": result["rss"], "modes": result["modes"],
                          "schedule": [asdict(s) for s in result["schedule"]]}, indent=1, default=str))
    ok = all(row["gap_ok"] and row["switches_ok"] for row in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
