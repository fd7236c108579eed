# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Parameters and multiply-accumulates per part, for `rxssnet info` and the benchmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from rxssnet_core.models.rxssnet import RXSSNet

PARTS = ("encoder_rgb", "encoder_x", "crm", "cgpi", "lam", "decoder")


@dataclass
class PartComplexity:
    part: str
    parameters: int
    macs: int

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def measure_complexity(model: RXSSNet, height: int, width: int) -> list[PartComplexity]:
    """Per-part parameters and MACs for one (1, 3, H, W) + (1, x_channels, H, W) forward pass.

    MACs come from torch's FlopCounter (convolutions and matrix products, FLOPs / 2), so attention products are
    included; thop, which the authors used, skips functional matmuls and reports slightly less.
    """
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    rgb = torch.zeros(1, 3, height, width, dtype=param.dtype, device=param.device)
    x = torch.zeros(1, model.config.x_channels, height, width, dtype=param.dtype, device=param.device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(rgb, x)
    model.train(was_training)
    flops_by_module = counter.get_flop_counts()
    root = type(model).__name__
    rows = []
    for part in PARTS:
        module = getattr(model, part)
        # ModuleLists are never called themselves: their stages are, one entry each.
        names = [f"{root}.{part}"] + [f"{root}.{part}.{index}" for index in range(4)]
        flops = sum(sum(flops_by_module.get(name, {}).values()) for name in names)
        rows.append(PartComplexity(part, count_parameters(module), int(flops // 2)))
    total_flops = sum(flops_by_module.get("Global", {}).values())
    accounted = sum(row.macs for row in rows)
    remainder = int(total_flops // 2) - accounted
    if remainder > 0:  # anything outside the named parts (none today) stays visible
        rows.append(PartComplexity("other", 0, remainder))
    rows.append(PartComplexity("total", count_parameters(model), int(total_flops // 2)))
    return rows
