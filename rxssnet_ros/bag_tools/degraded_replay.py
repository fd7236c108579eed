# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Score a bag in every degraded mode beside its fused score (`rxssnet bag eval --degraded-modes`).

The bag is replayed once per row of `rxssnet_core.evaluation.degraded.MODE_ROWS` (fused, x_missing, x_blank,
x_noise, x_shift, rgb_missing). For a degraded row the segmenter's backend is wrapped for that replay so that
every normalised network input (rgb (B, 3, h, w), x (B, C, h, w)) goes through `rxssnet_core.degradation.degrade`
first: the one definition of each degradation that training, `rxssnet eval --degraded-modes` and the node's
degraded modes use. x_noise draws from a per-frame seed, so a row is repeatable. The table and JSON are
`evaluation.degraded.write_degraded_report`'s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from rxssnet_core.degradation import DegradationParams, check_kind, degrade
from rxssnet_core.evaluation.degraded import FUSED, MODE_ROWS
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, BagEvalResult, evaluate_bag


class DegradingBackend:
    """A backend whose `infer` degrades every sample (kind of `rxssnet_core.degradation`) before the real one."""

    def __init__(self, backend: Any, kind: str, preprocess: Any, params: DegradationParams, seed: int = 0) -> None:
        self.backend, self.kind, self.preprocess, self.params = backend, check_kind(kind), preprocess, params
        self.seed = seed
        self.frames = 0

    def infer(self, rgb: np.ndarray, x: np.ndarray) -> Any:
        rgb_out, x_out = np.array(rgb, copy=True), np.array(x, copy=True)
        for index in range(len(rgb_out)):
            rng = np.random.default_rng([self.seed, self.frames])
            rgb_out[index], x_out[index] = degrade(rgb_out[index], x_out[index], self.kind, self.preprocess,
                                                   rng=rng, params=self.params)
            self.frames += 1
        return self.backend.infer(rgb_out, x_out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def evaluate_bag_degraded(bag: str | Path, segmenter: Any, config: BagEvalConfig, params: DegradationParams,
                          fused: BagEvalResult | None = None, modes: tuple[str, ...] = MODE_ROWS
                          ) -> dict[str, BagEvalResult]:
    """{mode: result} of replaying `bag` in each mode; `fused` (an existing plain replay) is reused for the fused
    row. The extra replays write no predictions and show no progress bar.
    """
    quiet = dataclasses.replace(config, write_predictions=None, progress=False)
    results: dict[str, BagEvalResult] = {}
    original = segmenter.backend
    for mode in modes:
        if mode == FUSED:
            results[mode] = fused if fused is not None else evaluate_bag(bag, segmenter, quiet)
            continue
        segmenter.backend = DegradingBackend(original, mode, segmenter.preprocess_config, params)
        try:
            results[mode] = evaluate_bag(bag, segmenter, quiet)
        finally:
            segmenter.backend = original
    return results
