# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Learning-rate schedule of the recipe: per-iteration linear warm-up, then poly decay (power 0.9).

The reference's WarmUpPolyLR (the authors' sister repositories) as a clean function of the optimizer step t (0-based):
    t <  W:  lr = base * (t + 1) / W
    t >= W:  lr = base * (1 - t / T) ** power
with W warm-up steps and T total steps. The poly term uses t / T, not (t - W) / (T - W), like the reference,
so the rate steps down by (1 - W/T)^0.9 (3 % for 10 of 300 epochs) when warm-up ends. The schedule is stateless
apart from the step counter, so resuming only needs that counter.
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer

from rxssnet_core.errors import UsageError


def warmup_poly_factor(step: int, total_steps: int, warmup_steps: int, power: float = 0.9) -> float:
    """Multiplier of the base learning rate at optimizer step `step` (0-based)."""
    if total_steps < 1:
        raise UsageError(f"total_steps={total_steps} must be >= 1")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(step, total_steps) / total_steps
    return max(0.0, 1.0 - progress) ** power


class WarmupPolyLR:
    """Sets every param group's lr from `warmup_poly_factor`; call `step()` after each optimizer step.

    The group's lr for the upcoming step is set at construction and after each `step()`, so the first
    optimizer step already uses the warm-up rate. state_dict holds primitives only (weights_only safe).
    """

    def __init__(self, optimizer: Optimizer, total_steps: int, warmup_steps: int, power: float = 0.9) -> None:
        if warmup_steps < 0 or warmup_steps > total_steps:
            raise UsageError(f"warmup_steps={warmup_steps} must be in [0, total_steps={total_steps}]")
        self.optimizer = optimizer
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.power = float(power)
        self.base_lrs = [float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]
        for group, base in zip(optimizer.param_groups, self.base_lrs):
            group["initial_lr"] = base
        self.last_step = 0
        self._apply()

    def factor(self, step: int | None = None) -> float:
        return warmup_poly_factor(self.last_step if step is None else step, self.total_steps,
                                  self.warmup_steps, self.power)

    def _apply(self) -> None:
        factor = self.factor()
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor

    def step(self) -> None:
        """Advance one optimizer step and set the rate for the next one."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "power": self.power, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self.total_steps = int(state["total_steps"])
        self.warmup_steps = int(state["warmup_steps"])
        self.power = float(state["power"])
        self.base_lrs = [float(v) for v in state["base_lrs"]]
        self._apply()
