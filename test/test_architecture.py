# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The layering of docs/ARCHITECTURE.md: rxssnet_core never imports rxssnet_ros or rclpy, no module-level
import cycle exists between the package's modules, imports sit at the top of each module (a local import says
which heavy optional dependency it defers), and no module grows past MAX_MODULE_LINES (read with Python's ast,
nothing imported)."""

from __future__ import annotations

import ast
import builtins
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("rxssnet_core", "rxssnet_ros")
# A module longer than this has more than one job; split it along a seam (docs/ARCHITECTURE.md lists the jobs).
MAX_MODULE_LINES = 500


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_imports(path: pathlib.Path) -> set[str]:
    """Modules imported anywhere in the file: at module level and inside functions (deferred imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def top_level_imports(path: pathlib.Path) -> set[str]:
    """Modules imported at module level (not inside functions, not under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node) if isinstance(node, (ast.Try, ast.If)) else [node]:
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
    return found


def package_graph(imports=top_level_imports) -> dict[str, set[str]]:
    modules = {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_core_never_imports_ros():
    for path in (REPO / "rxssnet_core").rglob("*.py"):
        source = path.read_text()
        imports = {n for node in ast.walk(ast.parse(source)) for n in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])}
        assert not {m for m in imports if m.split(".")[0] in ("rxssnet_ros", "rclpy")}, path


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_level_import_cycle():
    graph = package_graph()
    assert len(graph) > 60 and "rxssnet_ros.segment_node" in graph
    assert "rxssnet_core.frame_pipeline" in graph["rxssnet_ros.segment_node"]
    # __init__ re-exports import their own submodules by design; a cycle through a package's __init__ only
    # is not a real one
    graph = {n: {t for t in targets if not n.startswith(t + ".")} for n, targets in graph.items()}
    assert find_cycle(graph) is None, find_cycle(graph)


def test_no_import_cycle_through_deferred_imports_either():
    """A function's local import (torch deferred) must not close a circle either: files.py holds atomic_save and
    errors.py CheckpointError, so models.checkpoints and training.checkpointing need not import each other."""
    graph = package_graph(all_imports)
    assert "rxssnet_core.training.checkpointing" in graph["rxssnet_core.models.checkpoints"]
    graph = {n: {t for t in targets if not n.startswith(t + ".")} for n, targets in graph.items()}
    assert find_cycle(graph) is None, find_cycle(graph)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def package_modules() -> list[pathlib.Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def unexplained_local_imports(source: str) -> list[int]:
    """Lines of imports inside functions with no comment on the import's line or the line above (the comment
    names the heavy optional dependency that the local import defers, e.g. `# torch: ...`)."""
    lines = source.splitlines()
    found = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                here, above = lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""
                if "#" not in here and "#" not in above:
                    found.add(node.lineno)
    return sorted(found)


def test_local_imports_say_which_dependency_they_defer():
    unexplained = {str(p.relative_to(REPO)): lines for p in package_modules()
                   if (lines := unexplained_local_imports(p.read_text()))}
    assert not unexplained, f"imports inside functions without a comment saying why: {unexplained}"


def test_the_local_import_finder_finds_them():
    source = ("import os\n\n\ndef f():\n    import json\n\n\ndef g():\n"
              "    # torch: optional here\n    import torch\n    from a import b  # a: optional\n")
    assert unexplained_local_imports(source) == [5]


def test_no_module_is_longer_than_one_job():
    long_modules = {str(p.relative_to(REPO)): count for p in package_modules()
                    if (count := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines: {long_modules}"


def exception_classes() -> dict[str, tuple[str, list[str]]]:
    """Every class of the packages that derives from an exception: name -> (module file, base names)."""
    classes: dict[str, tuple[str, list[str]]] = {}
    for path in package_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
                classes[node.name] = (path.relative_to(REPO).as_posix(), bases)
    is_exception: dict[str, bool] = {}

    def check(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in is_exception:
            return is_exception[name]
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type):
            return issubclass(builtin, BaseException)
        if name not in classes or name in seen:
            return False
        is_exception[name] = any(check(base, seen | {name}) for base in classes[name][1])
        return is_exception[name]

    return {name: entry for name, entry in classes.items() if check(name)}


def test_every_error_of_the_package_is_an_rxssnet_error():
    """One base (rxssnet_core.errors.RXSSNetError) under which every user-facing error lives; the CLI catches it."""
    classes = exception_classes()
    assert {"RXSSNetError", "CheckpointError", "FrameProblem", "NodeConfigError", "BagError"} <= set(classes)
    assert sum(1 for name in classes if name == "CheckpointError") == 1

    def under_base(name: str) -> bool:
        return name == "RXSSNetError" or any(under_base(base) for base in classes.get(name, ("", []))[1])

    outside = {name: entry[0] for name, entry in classes.items() if not under_base(name)}
    assert outside == {}, f"derive these from RXSSNetError (rxssnet_core/errors.py): {outside}"
