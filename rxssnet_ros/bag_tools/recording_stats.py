# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a replay can say about a recording without labels: latency, throughput, pairing and predicted classes.

`RecordingStats` is fed by the replay: `stream(role, stamp_ns)` for every decoded RGB / X image,
`pair(rgb_stamp_ns, x_stamp_ns, labels)` for every segmented pair (labels (H, W) class ids). `summary(...)`
gives a JSON-ready dict:

- pairing: images per stream, pairs, RGB frames without an X (drops), X frames left unpaired, queue drops, the
  |RGB - X| stamp offset of the pairs (mean, max, ms);
- stamp_gaps per stream: median period, largest gap, and how many gaps exceed 1.5 periods (lost frames);
- throughput: recording rate (pairs per second of stamps) against processing rate (pairs per second of
  segmentation latency, one frame at a time), and whether the model keeps up with the cameras;
- class_shares: fraction of all predicted pixels per class name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# A gap longer than this many median periods counts as lost frames.
GAP_FACTOR = 1.5


def _gap_stats(stamps: list[int]) -> dict[str, Any]:
    if len(stamps) < 2:
        return {"period_ms": None, "max_gap_ms": None, "long_gaps": 0}
    gaps = np.diff(np.sort(np.asarray(stamps, dtype=np.int64))) / 1e6
    period = float(np.median(gaps))
    return {"period_ms": period, "max_gap_ms": float(gaps.max()),
            "long_gaps": int(np.count_nonzero(gaps > GAP_FACTOR * period)) if period > 0 else 0}


class RecordingStats:
    """Stamps, pair offsets and predicted-class pixel counts of one replay (see the module docstring)."""

    def __init__(self, num_classes: int) -> None:
        self.stamps: dict[str, list[int]] = {"rgb": [], "x": []}
        self.offsets_ms: list[float] = []
        self.pair_stamps: list[int] = []
        self.class_pixels = np.zeros(num_classes, dtype=np.int64)

    def stream(self, role: str, stamp_ns: int) -> None:
        self.stamps[role].append(int(stamp_ns))

    def pair(self, rgb_stamp_ns: int, x_stamp_ns: int, labels: np.ndarray) -> None:
        self.pair_stamps.append(int(rgb_stamp_ns))
        self.offsets_ms.append(abs(int(rgb_stamp_ns) - int(x_stamp_ns)) / 1e6)
        counts = np.bincount(np.asarray(labels).reshape(-1).astype(np.int64), minlength=len(self.class_pixels))
        self.class_pixels += counts[: len(self.class_pixels)]

    def summary(self, class_names: list[str], latencies_ms: list[float], queue_drops: list[int],
                topics: dict[str, str]) -> dict[str, Any]:
        pairs = len(self.pair_stamps)
        rgb, x = len(self.stamps["rgb"]), len(self.stamps["x"])
        span_s = (max(self.pair_stamps) - min(self.pair_stamps)) / 1e9 if pairs > 1 else 0.0
        recording_hz = (pairs - 1) / span_s if span_s > 0 else None
        busy_s = float(np.sum(latencies_ms)) / 1e3 if latencies_ms else 0.0
        processing_hz = len(latencies_ms) / busy_s if busy_s > 0 else None
        total = int(self.class_pixels.sum())
        shares = {name: (float(count) / total if total else 0.0) for name, count in zip(class_names, self.class_pixels)}
        return {
            "topics": dict(topics),
            "pairing": {"rgb_images": rgb, "x_images": x, "pairs": pairs,
                        "rgb_without_x": max(rgb - pairs - int(queue_drops[0]), 0),
                        "x_unpaired": max(x - pairs - int(queue_drops[1]), 0),
                        "queue_drops": [int(d) for d in queue_drops],
                        "offset_ms_mean": float(np.mean(self.offsets_ms)) if self.offsets_ms else None,
                        "offset_ms_max": float(np.max(self.offsets_ms)) if self.offsets_ms else None},
            "stamp_gaps": {role: _gap_stats(stamps) for role, stamps in self.stamps.items()},
            "throughput": {"recording_hz": recording_hz, "processing_hz": processing_hz,
                           "keeps_up": None if recording_hz is None or processing_hz is None
                           else processing_hz >= recording_hz},
            "class_shares": shares,
        }


def describe(summary: dict[str, Any]) -> list[str]:
    """The summary as a few lines for the terminal."""
    pairing, throughput = summary["pairing"], summary["throughput"]

    def number(value: Any, digits: int = 1) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [f"pairing: {pairing['pairs']} pairs from {pairing['rgb_images']} RGB and {pairing['x_images']} X images; "
             f"{pairing['rgb_without_x']} RGB without X, {pairing['x_unpaired']} X unpaired, queue drops "
             f"{pairing['queue_drops']}; |RGB-X| offset mean {number(pairing['offset_ms_mean'], 2)} ms, max "
             f"{number(pairing['offset_ms_max'], 2)} ms"]
    for role, gaps in summary["stamp_gaps"].items():
        lines.append(f"stamp gaps {role}: period {number(gaps['period_ms'])} ms, largest {number(gaps['max_gap_ms'])} "
                     f"ms, {gaps['long_gaps']} gap(s) over {GAP_FACTOR:g} periods")
    keeps = {None: "", True: " (keeps up)", False: " (falls behind the cameras)"}[throughput["keeps_up"]]
    lines.append(f"throughput: recording {number(throughput['recording_hz'])} pairs/s, processing "
                 f"{number(throughput['processing_hz'])} pairs/s{keeps}")
    shares = sorted(summary["class_shares"].items(), key=lambda item: -item[1])
    lines.append("predicted pixels: " + ", ".join(f"{name} {share * 100:.1f}%" for name, share in shares))
    return lines
