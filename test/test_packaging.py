"""The package installs both ways: colcon (ament_python) and pip; CI runs the command README shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_package_xml_declares_run_dependencies_and_a_valid_maintainer():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "rxssnet_ros"
    maintainer = root.find("maintainer")
    assert maintainer is not None and "@" in maintainer.get("email", "") and "." in maintainer.get("email", "")
    assert root.findtext("license")
    run_deps = {el.text for el in root if el.tag in ("exec_depend", "depend")}
    for key in ("rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "message_filters", "cv_bridge",
                "python3-numpy", "python3-opencv", "python3-yaml", "python3-torch-pip", "python3-timm-pip",
                "python3-onnxruntime-pip"):
        assert key in run_deps, key
    assert root.find("export/build_type").text == "ament_python"


def test_ci_runs_the_test_command_readme_shows():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme
    assert "make demo" in readme


def test_rxssnet_help_lists_every_subcommand():
    result = subprocess.run([str(BIN / "rxssnet"), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("info", "convert-reference", "datasets", "train", "eval", "predict", "export", "bench",
                    "calibrate", "bag"):
        assert command in result.stdout, command


@pytest.mark.slow
def test_colcon_builds_an_ament_python_package(tmp_path):
    colcon = BIN / "colcon"
    if not colcon.exists():
        pytest.skip("colcon is not installed in this environment")
    (tmp_path / "src").mkdir()
    # Copy the sources (not the venv or build outputs) so the build cannot touch the checkout.
    shutil.copytree(REPO, tmp_path / "src" / "rxssnet_ros", symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".git", "build", "install", "log", "*.egg-info",
                                                  "__pycache__", ".pytest_cache", ".ruff_cache", "runs",
                                                  "demo_output"))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    listing = subprocess.run([str(colcon), "list"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert "rxssnet_ros" in listing.stdout and "(ros.ament_python)" in listing.stdout, listing.stdout
    build = subprocess.run([str(colcon), "build", "--event-handlers", "console_direct-"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    prefix = tmp_path / "install" / "rxssnet_ros"
    share = prefix / "share" / "rxssnet_ros"
    for relative in ("package.xml", "launch/segment.launch.py", "config/thermal.yaml", "config/depth.yaml",
                     "config/polarization.yaml", "config/rviz/segment.rviz"):
        assert (share / relative).is_file(), relative
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "rxssnet_ros").is_file()
    for executable in ("segment_node", "eval_node", "rxssnet"):
        assert (prefix / "lib" / "rxssnet_ros" / executable).is_file(), executable
    lookup = subprocess.run(
        ["bash", "-c", f"source {tmp_path}/install/setup.bash && {sys.executable} -c "
         "\"from ament_index_python.packages import get_package_share_directory as g; "
         "print(g('rxssnet_ros'))\""],
        env=env, capture_output=True, text=True, timeout=120)
    assert lookup.returncode == 0, lookup.stderr
    assert Path(lookup.stdout.strip()) == share
