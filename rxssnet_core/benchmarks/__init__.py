# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmark scripts that print tables (speed targets live here, never in unit tests), and what they share.

`backends` is `rxssnet bench`: our backends against the authors' forward, per variant, size and precision.
`model_cpu`: the network's forward per variant against the machine's matmul throughput. `alignment`: the X
registration. The ROS node's latency is `rxssnet_ros.benchmarks.node_latency`.

Shared here: `percentile` (re-exported from `rxssnet_core.percentiles`, the one definition every table
uses) and the machine description every table prints (`cpu_name`, `cpu_features`, `machine_line`), so that a
figure always says what it ran on.
"""

from __future__ import annotations

import os
import platform

from rxssnet_core.percentiles import percentile

__all__ = ["CPU_FEATURE_FLAGS", "cpu_features", "cpu_name", "machine_line", "percentile"]

# /proc/cpuinfo flags that decide which kernels run: fp32 SIMD width, and native bf16 / fp16 / int8 matrix units.
CPU_FEATURE_FLAGS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"),
                     ("avx512_fp16", "AVX512-FP16"), ("avx512_vnni", "AVX512-VNNI"), ("amx_tile", "AMX"),
                     ("asimd", "NEON"))


def _cpuinfo() -> tuple[str | None, set[str]]:
    name: str | None = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
    return _cpuinfo()[0] or platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """The speed-relevant instruction sets this CPU reports, e.g. ['AVX2', 'AVX-512', 'AMX']."""
    flags = _cpuinfo()[1]
    return [label for flag, label in CPU_FEATURE_FLAGS if flag in flags]


def machine_line() -> str:
    """One line for a table's caption: CPU, vendor, features, core count, load average now."""
    name = cpu_name()
    vendor = "Intel" if "intel" in name.lower() else "AMD" if "amd" in name.lower() else platform.machine()
    features = ", ".join(cpu_features()) or "none of AVX2/AVX-512/AMX"
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else "n/a"
    return f"{name} ({vendor}; {features}), {os.cpu_count()} CPUs, load average {load}"
