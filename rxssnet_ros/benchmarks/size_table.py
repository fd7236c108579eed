# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What segment_node adds per frame, by camera size: the targets and the table `node_latency --also-sizes` prints."""

from __future__ import annotations

from typing import Any

# What the node may add per output frame at p90, by camera size (height, width); other sizes: 10 ms (issue 24).
SIZE_TARGETS_P90_MS = {(480, 640): 10.0, (720, 1280): 7.0, (1080, 1920): 10.0}
DEFAULT_TARGET_P90_MS = 10.0


def target_p90_ms(height: int, width: int) -> float:
    """The p90 target of what the node adds per frame at this camera size."""
    return SIZE_TARGETS_P90_MS.get((height, width), DEFAULT_TARGET_P90_MS)


def target_verdict(node_adds_p90_ms: float, height: int, width: int) -> str:
    """'meets' or 'MISSES' the target of this camera size."""
    return "meets" if node_adds_p90_ms <= target_p90_ms(height, width) else "MISSES"


def verdict_text(node_adds_p90_ms: float, height: int, width: int) -> str:
    """e.g. 'meets the p90 <= 7 ms target'."""
    return f"{target_verdict(node_adds_p90_ms, height, width)} the p90 <= {target_p90_ms(height, width):g} ms target"


def sizes_text(sizes: Any) -> str:
    """[(H, W), ...] -> "WxH, ..." (as camera sizes are written); "?" when none were recorded."""
    return ", ".join(f"{width}x{height}" for height, width in sizes) if sizes else "?"


def print_size_table(by_size: dict[tuple[int, int], dict[str, Any]]) -> None:
    """What the node adds per output frame, per camera size (part 3 at each size), with the size of the labels it
    sent, each size's target and, where measured (`transport_floor.floor_run`, keys floor_p50_ms / floor_p90_ms /
    floor_label_sizes), the transport floor of that size and what the node adds beyond it (difference of the two
    runs' percentiles).
    """
    print("\nPer camera size (same run, same network size; free-running 30 Hz RGB + 9 Hz X):\n")
    print("| camera | labels out | outputs | node adds p50 ms | node adds p90 ms | of which pipeline p90 ms | "
          "outside p90 ms | transport floor p50 / p90 ms | beyond the floor p50 / p90 ms | target p90 ms | verdict |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    notes = []
    for (height, width), run in by_size.items():
        target, verdict = target_p90_ms(height, width), target_verdict(run["node_adds_p90_ms"], height, width)
        floor_p50, floor_p90 = run.get("floor_p50_ms", float("nan")), run.get("floor_p90_ms", float("nan"))
        beyond = f"{run['node_adds_p50_ms'] - floor_p50:.1f} / {run['node_adds_p90_ms'] - floor_p90:.1f}"
        labels_out = sizes_text(run.get("label_sizes"))
        print(f"| {width}x{height} | {labels_out} | {run['outputs']} | {run['node_adds_p50_ms']:.1f} | "
              f"{run['node_adds_p90_ms']:.1f} | {run['pipeline_steps_p90_ms']:.1f} | "
              f"{run['outside_pipeline_p90_ms']:.1f} | {floor_p50:.1f} / {floor_p90:.1f} | {beyond} | {target:g} | "
              f"{verdict} |")
        floor_labels = run.get("floor_label_sizes")
        if floor_labels is not None and sizes_text(floor_labels) != labels_out:
            notes.append(f"{width}x{height}: the relay sent {sizes_text(floor_labels)} labels and the node "
                         f"{labels_out}: this floor is not the node's")
        if floor_p90 > target:
            notes.append(f"{width}x{height}: the transport floor alone ({floor_p90:.1f} ms at p90, a relay that only "
                         f"takes the image's bytes and republishes a pre-built label image) is above the {target:g} ms "
                         "target")
    if notes:
        print("\n" + "\n".join(notes))
