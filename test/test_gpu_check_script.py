# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""scripts/gpu_check.sh: its help, and a clear refusal (nothing written) on a machine without an NVIDIA GPU.

The GPU run itself happens on a GPU machine (docs/deployment.md "Measured on a GPU"); CI never has one.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env)


def test_help_names_what_it_measures():
    result = run("--help")
    assert result.returncode == 0
    for words in ("TensorRT fp16 and int8", "atto and tiny at 480x640", "parity", "engine build time",
                  "GPU memory", "OUT_DIR"):
        assert words in result.stdout


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has nvidia-smi")
def test_without_a_gpu_it_refuses_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu"
    result = run(str(out), env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "no NVIDIA GPU here" in result.stderr
    assert not out.exists()
