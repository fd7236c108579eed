# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""A node process under benchmark: its ROS environment (loopback discovery, its own domain) and its memory."""

from __future__ import annotations

import os
import pathlib

REPO_CONFIG = pathlib.Path(__file__).resolve().parents[2] / "config"


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc), NaN elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def ros_environment(domain_id: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # never leave this machine
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else 100 + os.getpid() % 100)
    profile = REPO_CONFIG / "fastdds_large_images.xml"
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in env and profile.is_file():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    env["PYTHONUNBUFFERED"] = "1"
    return env
