# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The TensorRT code uses only Python API that exists in TensorRT 10.3 (JetPack 6) and TensorRT 11 (PyPI).

Neither TensorRT installs here without a GPU, so the check is static: every attribute the package reads from the
`tensorrt` module or from an object TensorRT returns (builder, network, parser, config, profile, engine, context,
runtime) must be a name of both wheels' bindings. test/data/tensorrt_*_python_names.txt hold those names (how they
were made is in each file's header).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(__file__).parent / "data"
NAME_LISTS = {"10.3": DATA / "tensorrt_10.3.0_python_names.txt", "11": DATA / "tensorrt_11.4.0.106_python_names.txt"}
# Files that touch TensorRT objects -> the variable names that hold them there.
TENSORRT_FILES = {
    "rxssnet_core/inference/backends/tensorrt_backend.py": {
        "trt", "builder", "network", "parser", "config", "profile", "tensor", "self.engine", "self.context",
        "self._runtime", "self._trt"},
    "rxssnet_core/export.py": {"trt"},
}


def load_names(path: pathlib.Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def binding_names() -> dict[str, list[str]]:
    return {version: load_names(path) for version, path in NAME_LISTS.items()}


def exists(name: str, names: list[str]) -> bool:
    # The linker may store a name only as the tail of a longer identifier (INT8 inside UINT8).
    return any(line == name or line.endswith(name) for line in names)


def _root(node: ast.expr) -> str | None:
    """`trt` for trt.Logger.INFO, `self.engine` for self.engine.get_tensor_name: the variable an access starts at."""
    while isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            return f"self.{node.attr}"
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def tensorrt_attributes(source: str, objects: set[str]) -> set[str]:
    """Every attribute name read from one of the TensorRT `objects` in `source` (the object itself excluded)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        root = _root(node)
        if root not in objects or ast.unparse(node) == root:
            continue
        found.add(node.attr)
    return found


def missing_names(source: str, names: list[str], objects: set[str]) -> list[str]:
    return sorted(name for name in tensorrt_attributes(source, objects) if not exists(name, names))


def test_name_lists_are_the_two_tensorrt_versions(binding_names):
    headers = {v: NAME_LISTS[v].read_text().splitlines()[0] for v in NAME_LISTS}
    assert "tensorrt-cu12-bindings==10.3.0" in headers["10.3"]
    assert re.search(r"tensorrt\S*==11\.", headers["11"])
    for names in binding_names.values():
        assert len(names) > 1000 and exists("execute_async_v3", names)


@pytest.mark.parametrize("version", sorted(NAME_LISTS))
@pytest.mark.parametrize("relative", TENSORRT_FILES)
def test_tensorrt_code_uses_only_names_of_both_versions(binding_names, version, relative):
    source, objects = (REPO / relative).read_text(), TENSORRT_FILES[relative]
    used = tensorrt_attributes(source, objects)
    if relative.endswith("tensorrt_backend.py"):  # the scan must see the backend's real calls, not nothing
        assert {"build_serialized_network", "execute_async_v3", "STRONGLY_TYPED", "set_tensor_address"} <= used
    assert missing_names(source, binding_names[version], objects) == [], f"not in TensorRT {version}"


def test_the_check_catches_api_removed_in_tensorrt_11(binding_names):
    """The weakly typed precision flags and the INT8 calibrators exist in 10.3 but not in 11."""
    source = ("config.set_flag(trt.BuilderFlag.FP16)\n"
              "class Calibrator(trt.IInt8EntropyCalibrator2):\n    pass\n"
              "shape = self.engine.get_binding_shape(0)\n")
    objects = TENSORRT_FILES["rxssnet_core/inference/backends/tensorrt_backend.py"]
    assert missing_names(source, binding_names["11"], objects) == ["FP16", "IInt8EntropyCalibrator2",
                                                                   "get_binding_shape"]
    assert missing_names(source, binding_names["10.3"], objects) == ["get_binding_shape"]


def test_no_calibrator_or_precision_flag_anywhere_in_the_package():
    """INT8 comes from Q/DQ nodes in the ONNX file (ModelOpt), fp16 from the file's types: strongly typed."""
    for path in [*REPO.glob("rxssnet_core/**/*.py"), *REPO.glob("rxssnet_ros/**/*.py")]:
        text = path.read_text()
        assert not re.search(r"IInt8\w*Calibrator|BuilderFlag\.(FP16|INT8|BF16)", text), path


def test_only_the_backend_and_the_exporter_touch_tensorrt():
    for path in [*REPO.glob("rxssnet_core/**/*.py"), *REPO.glob("rxssnet_ros/**/*.py")]:
        relative = path.relative_to(REPO).as_posix()
        if relative in TENSORRT_FILES:
            continue
        assert not re.search(r"^\s*import tensorrt|import_tensorrt\(\)", path.read_text(), re.M), relative
