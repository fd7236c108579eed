# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test helper: this checkout built by colcon in a temporary workspace, and a shell environment that finds it.

Used by test_packaging.py (what colcon installs) and test_ros2_launch.py (`ros2 launch`/`ros2 run`/`ros2 param`
against the installed package). With a sourced ROS 2 the `ros2` tools come from it; with the PyPI wheels they
come from the venv's ros_tools (its `ros_tools_env.sh`, written by ../shared/ros_tools/install.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROS_TOOLS_ENV = Path(sys.prefix) / "ros_tools_env.sh"
COPY_IGNORE = shutil.ignore_patterns(".venv", ".venv-*", ".git", "build", "install", "log", "*.egg-info",
                                     "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "runs",
                                     "demo_output")


def colcon_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}


def build_workspace(workspace: Path, timeout: float = 600.0) -> Path:
    """Copies the sources (not the venv or build outputs, so the build cannot touch the checkout) into
    workspace/src and runs `colcon build`; returns workspace/install. Raises AssertionError with colcon's output."""
    shutil.copytree(REPO, workspace / "src" / "rxssnet_ros", symlinks=True, ignore=COPY_IGNORE)
    build = subprocess.run([str(BIN / "colcon"), "build", "--event-handlers", "console_direct-"], cwd=workspace,
                           env=colcon_env(), capture_output=True, text=True, timeout=timeout)
    assert build.returncode == 0, build.stdout + build.stderr
    return workspace / "install"


def ros2_shell_prefix(install: Path) -> str | None:
    """The bash lines that give a shell the `ros2` tools and the built workspace, or None when this environment
    has no `ros2` (PyPI wheels without ros_tools)."""
    if os.environ.get("ROS_DISTRO") and shutil.which("ros2"):
        tools = ""  # a sourced ROS 2 distribution
    elif ROS_TOOLS_ENV.is_file() and (BIN / "ros2").exists():
        tools = f". {ROS_TOOLS_ENV} && "
    else:
        return None
    return f"{tools}. {install}/setup.bash && "
