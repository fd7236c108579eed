# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one definition of a percentile that every latency figure uses (benchmarks, node diagnostics, reports)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default);
    NaN for no values. Pure Python, so torch- and numpy-free callers use the same definition.
    """
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return float("nan")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q={q} must be within 0..100")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
