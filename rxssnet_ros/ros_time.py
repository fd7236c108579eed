# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ROS time as int nanoseconds: the one conversion every node, bag tool and test uses."""

from __future__ import annotations

from typing import Any


def stamp_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time (or anything with `sec` and `nanosec`) as int nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def time_fields(nanoseconds: int) -> dict[str, int]:
    """The inverse of `stamp_ns`: {"sec", "nanosec"} for any Time type (rclpy's or rosbags'), `Time(**fields)`."""
    return {"sec": int(nanoseconds // 1_000_000_000), "nanosec": int(nanoseconds % 1_000_000_000)}


def seconds_to_ns(seconds: float) -> int:
    """Seconds (a parameter) as int nanoseconds, rounded to the nearest (0.57 s is 570000000 ns, not ...999)."""
    return round(float(seconds) * 1e9)
