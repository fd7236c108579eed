# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The conventional ament checks, run by `colcon test` and `make test`: lint and docstrings (ruff), the licence file
and headers, and the type check (mypy). A check whose tool is not installed here (a robot's install) is skipped
with the reason; requirements/dev.txt installs them all."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = ("# Copyright 2026 RXSSNet-ROS maintainers", "# SPDX-License-Identifier: Apache-2.0")
# Being changed on other branches right now: their headers come when those are merged.
HEADER_PENDING = {"launch/segment.launch.py", "rxssnet_core/data/synthetic.py", "rxssnet_core/training/trainer.py",
                  "rxssnet_ros/node_params.py"}
SOURCE_DIRS = ("rxssnet_core", "rxssnet_ros", "launch", "test", "scripts")


def tool(module: str) -> list[str]:
    """The command that runs `module`'s tool with this python, or skips the test when it is not installed."""
    if importlib.util.find_spec(module) is not None:
        return [sys.executable, "-m", module]
    found = shutil.which(module)
    if found is None:
        pytest.skip(f"needs {module} (not installed here: pip install -r requirements/dev.txt)")
    return [found]


def python_sources() -> list[Path]:
    files = [REPO / "setup.py"]
    for folder in SOURCE_DIRS:
        files += sorted((REPO / folder).rglob("*.py"))
    return files


def run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_ruff_lint():
    result = run([*tool("ruff"), "check", "--no-cache", "."], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docstrings_follow_pep257():
    """ruff's pydocstyle rules, as pyproject.toml selects them (the PEP 257 convention, as ament_pep257 applies it).

    test_ruff_lint runs them too; here they are reported on their own, as ament's pep257 test is.
    """
    result = run([*tool("ruff"), "check", "--no-cache", "--output-format", "concise", "rxssnet_core", "rxssnet_ros"],
                 timeout=120)
    docstring_findings = [line for line in result.stdout.splitlines() if re.search(r": D\d{3} ", line)]
    assert not docstring_findings, "\n".join(docstring_findings)
    assert "invalid" not in result.stderr.lower(), result.stderr


def test_license_file_is_the_one_package_xml_and_setup_py_name():
    license_text = (REPO / "LICENSE").read_text()
    assert license_text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in license_text and len(license_text) > 10_000  # the full text
    assert ET.parse(REPO / "package.xml").getroot().findtext("license") == "Apache-2.0"
    assert re.search(r'license="Apache-2.0"', (REPO / "setup.py").read_text())


def test_every_source_file_carries_the_license_header():
    missing = []
    for path in python_sources():
        name = path.relative_to(REPO).as_posix()
        lines = path.read_text().splitlines()
        if lines and lines[0].startswith("#!"):
            lines = lines[1:]
        if tuple(lines[:2]) != HEADER and name not in HEADER_PENDING:
            missing.append(name)
    assert not missing, f"start these files with the two lines {HEADER}: {missing}"


def test_every_type_ignore_says_why():
    """`# type: ignore[code]` is followed by a comment with the reason (trainer.py and cgpi.py: pending, above)."""
    bare = []
    for path in python_sources():
        name = path.relative_to(REPO).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"#\s*type:\s*ignore(\[[^\]]*\])?\s*$", line) and name not in HEADER_PENDING:
                bare.append(f"{name}:{number}")
    assert not bare, f"say why after the ignore (`# type: ignore[code]  # reason`): {bare}"


@pytest.mark.slow
def test_types_check_with_mypy():
    """mypy over rxssnet_core and rxssnet_ros (pyproject.toml [tool.mypy]); about 45 s cold on 2 cores, 5 s cached."""
    result = run([*tool("mypy"), "--python-executable", sys.executable], timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
