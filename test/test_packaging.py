# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The package installs both ways: colcon (ament_python) and pip; CI runs the command README shows."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from colcon_workspace import build_workspace, colcon_env
from optional_deps import require

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def rosdep_python_keys() -> dict[str, bool]:
    """test/data/rosdep_keys.md's table: python key -> whether rosdistro has it."""
    keys = {}
    for line in (REPO / "test" / "data" / "rosdep_keys.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[1] not in ("yes", "**no**"):
            continue
        for key in cells[0].split(","):
            keys[key.strip()] = cells[1] == "yes"
    return keys


def test_package_xml_declares_run_dependencies_and_a_valid_maintainer():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "rxssnet_ros"
    maintainer = root.find("maintainer")
    assert maintainer is not None and "@" in maintainer.get("email", "") and "." in maintainer.get("email", "")
    assert root.findtext("license")
    run_deps = {el.text for el in root if el.tag in ("exec_depend", "depend")}
    for key in ("rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "lifecycle_msgs", "message_filters",
                "cv_bridge", "launch_ros", "python3-numpy", "python3-opencv", "python3-yaml",
                "python3-onnxruntime-pip"):
        assert key in run_deps, key
    assert root.find("export/build_type").text == "ament_python"


def test_every_package_xml_key_resolves_in_rosdep():
    """`rosdep install` stops at the first unknown key: python keys must be in rosdistro (the table), the rest
    must be ROS package names (REP 144: lower case, digits, underscores), never a python key in disguise."""
    keys = rosdep_python_keys()
    assert keys["python3-numpy"] and not keys["python3-torch-pip"] and not keys["python3-safetensors-pip"]
    depends = [el.text.strip() for el in ET.parse(REPO / "package.xml").getroot() if el.tag.endswith("depend")]
    assert depends
    for key in depends:
        if key.startswith("python3-") or key in keys:
            assert keys.get(key), f"package.xml names {key}, which rosdep cannot resolve (test/data/rosdep_keys.md)"
        else:
            assert re.fullmatch(r"[a-z][a-z0-9_]*[a-z0-9]", key), f"{key} is neither a rosdep key nor a ROS package"


def test_rosdep_table_matches_the_workplace_reference():
    shared = REPO.parent / "shared" / "reference" / "rosdep_keys.md"
    if not shared.is_file():
        pytest.skip("../shared/reference is not beside this checkout")
    copy = (REPO / "test" / "data" / "rosdep_keys.md").read_text().split("\n", 1)
    assert copy[0].startswith("<!-- Copied verbatim") and copy[1] == shared.read_text()


def test_ci_runs_the_test_command_readme_shows():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme
    assert "make demo" in readme


def installed_cli() -> Path:
    """The `rxssnet` console script: in this venv (pip install -e .) or, under `colcon test`, in the colcon install
    (lib/rxssnet_ros of a prefix on AMENT_PREFIX_PATH, where `ros2 run rxssnet_ros rxssnet` finds it)."""
    candidates = [BIN / "rxssnet"] + [Path(prefix) / "lib" / "rxssnet_ros" / "rxssnet"
                                      for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if prefix]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.skip("the package is not installed here (neither `pip install -e .` nor a sourced colcon install)")


def test_rxssnet_help_lists_every_subcommand():
    result = subprocess.run([str(installed_cli()), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("info", "convert-reference", "datasets", "train", "eval", "predict", "export", "bench",
                    "calibrate", "bag"):
        assert command in result.stdout, command


@pytest.mark.slow
def test_colcon_builds_an_ament_python_package(tmp_path):
    colcon = BIN / "colcon"
    if not colcon.exists():
        pytest.skip("colcon is not installed in this environment")
    build_workspace(tmp_path)
    env = colcon_env()
    listing = subprocess.run([str(colcon), "list"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert "rxssnet_ros" in listing.stdout and "(ros.ament_python)" in listing.stdout, listing.stdout
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


REQUIREMENTS = REPO / "requirements"
MACHINE_BOUND = {"torch", "torchvision", "tensorrt", "tensorrt-cu12", "tensorrt-cu13", "onnxruntime-gpu"}


def requirement_lines(name: str, seen: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(file, canonical package name, specifier) of requirements/<name>, following `-r` includes."""
    lines = []
    for raw in (REQUIREMENTS / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            include = line[3:].strip()
            assert include not in seen, f"{name} includes {include} twice"
            lines += requirement_lines(include, seen | {name})
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)", line)
        assert match, f"{name}: cannot read {raw!r}"
        lines.append((name, re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(3).replace(" ", "")))
    return lines


def test_requirement_sets_per_machine():
    """core is torch-free; the Jetson set never names torch, torchvision or TensorRT (JetPack's stay); torch.txt
    pins exactly the torch and torchvision CI installs; one package has one specifier in every file."""
    names = lambda file: {package for _, package, _ in requirement_lines(file)}  # noqa: E731
    assert not names("core.txt") & (MACHINE_BOUND | {"timm"})
    assert not names("jetson.txt") & MACHINE_BOUND and not any(n.startswith("nvidia-") for n in names("jetson.txt"))
    assert names("jetson.txt") >= names("core.txt") | {"timm", "rosbags"}
    torch_pins = dict((package, spec) for _, package, spec in requirement_lines("torch.txt"))
    assert set(torch_pins) == {"torch", "torchvision"} and all(spec.startswith("==") for spec in torch_pins.values())
    specs: dict[str, set[str]] = {}
    for path in REQUIREMENTS.glob("*.txt"):
        for _file, package, spec in requirement_lines(path.name):
            specs.setdefault(package, set()).add(spec)
    assert {package: s for package, s in specs.items() if len(s) > 1} == {}
    # torch is named only where the machine has no torch of its own
    torch_files = {path.name for path in REQUIREMENTS.glob("*.txt")
                   if "torch" in {package for _, package, _ in requirement_lines(path.name)}}
    assert torch_files == {"torch.txt"}


def test_ci_installs_every_requirement_file_a_test_needs():
    setup = (REPO / "scripts" / "setup_venv.sh").read_text()
    for name in ("core", "torch", "model", "train", "bags", "dev", "ros", "ros-jazzy"):
        assert f"requirements/{name}.txt" in setup, name
    assert "requirements/jetson.txt" not in setup  # CI is a desktop; the Jetson set is checked above


# import name -> distribution, where they differ (PyPI names; ROS packages resolve through package.xml)
DISTRIBUTION = {"PIL": "pillow", "cv2": "opencv-python-headless", "yaml": "pyyaml", "modelopt": "nvidia-modelopt",
                "backports.zstd": "backports-zstd", "rosbags.image": "rosbags-image"}
ROS_PACKAGES = {"tf2_ros": "tf2_ros_py"}  # import name -> package.xml name, where they differ
# Python 3.14's zstd (bag_source.py falls back to it), and the test folder's own modules (helpers, and test
# modules whose fixtures other tests reuse)
NOT_DISTRIBUTIONS = {"compression"} | {path.stem for path in Path(__file__).parent.glob("*.py")}


def third_party_imports(folder: str) -> dict[str, set[str]]:
    """import name (a package, or `backports.zstd` / `rosbags.image` inside a namespace) -> the files importing it."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for module in modules:
                name = next((key for key in DISTRIBUTION if module == key or module.startswith(key + ".")),
                            module.split(".", 1)[0])
                if name in sys.stdlib_module_names or name in NOT_DISTRIBUTIONS or name.startswith("rxssnet_"):
                    continue
                if name == "backports":
                    continue  # the namespace itself: its member (backports.zstd) is counted above
                found.setdefault(name, set()).add(path.relative_to(REPO).as_posix())
    return found


@pytest.mark.parametrize(("folder", "files"), [
    ("rxssnet_core", ("core.txt", "torch.txt", "model.txt", "train.txt", "openvino.txt", "tensorrt.txt")),
    ("rxssnet_ros", ("core.txt", "torch.txt", "model.txt", "train.txt", "bags.txt")),
    ("rxssnet_ros/bag_tools", ("core.txt", "bags.txt", "train.txt")),  # train.txt: matplotlib, the optional plots
    ("launch", ()),
    ("test", ("core.txt", "torch.txt", "model.txt", "train.txt", "bags.txt", "openvino.txt", "test.txt", "dev.txt")),
])
def test_every_import_is_declared_where_its_code_runs(folder, files):
    """Each third-party import is a package.xml dependency (ROS packages, rosdep keys) or is named in a requirement
    file of the install path that runs that code: the bag tools' in bags.txt, a test's possibly in dev.txt."""
    root = ET.parse(REPO / "package.xml").getroot()
    ros = {el.text for el in root if el.tag in ("exec_depend", "depend", "test_depend")}
    declared = {package for file in files for _, package, _ in requirement_lines(file)}
    undeclared = {}
    for name, users in third_party_imports(folder).items():
        distribution = DISTRIBUTION.get(name, name).lower().replace("_", "-")
        if ROS_PACKAGES.get(name, name) in ros or distribution in declared:
            continue
        undeclared[name] = sorted(users)
    assert undeclared == {}, f"declare these in one of {files} (or package.xml): {undeclared}"


def test_readme_documents_each_machine():
    build = (REPO / "README.md").read_text().split("### Build", 1)[1].split("\n### ", 1)[0]
    assert "requirements/torch.txt --index-url https://download.pytorch.org/whl/cpu" in build
    jetson = "requirements/jetson.txt -c <(pip list --format=freeze | grep -iE '^(torch|torchvision|tensorrt)==')"
    assert jetson in build
    assert "ros2 run rxssnet_ros rxssnet --help" in build
    for key in ("python3-torch-pip", "python3-safetensors-pip"):
        assert key not in build


@pytest.mark.slow
def test_jetson_install_keeps_the_installed_torch(tmp_path):
    """README's Jetson command, as a pip dry run in this venv (whose torch stands in for JetPack's): pip would
    install nothing named torch, torchvision or tensorrt."""
    require("torch")  # stands in for JetPack's
    freeze = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            timeout=120, check=True).stdout
    pins = [line for line in freeze.splitlines() if re.match(r"(?i)^(torch|torchvision|tensorrt)==", line)]
    assert any(line.lower().startswith("torch==") for line in pins)
    constraints = tmp_path / "jetson-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
                             "-r", str(REQUIREMENTS / "jetson.txt"), "-c", str(constraints)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    would_install = {item["metadata"]["name"].lower() for item in report.get("install", [])}
    assert not would_install & MACHINE_BOUND, would_install
