# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The package runs on ROS 2 Humble, Jazzy and Kilted.

- Every rclpy module, name and Node method the package uses exists in Humble's and Jazzy's rclpy (the public
  surfaces in test/data/rclpy_{humble,jazzy}_api.tsv); names that moved between distributions are imported in
  rxssnet_ros/compat.py as try/except-ImportError alternatives, of which one must exist on each distribution.
- The rclpy in use is one consistent ROS distribution: rclpy, the message packages and the C libraries all come
  from the same environment. `make test` runs this file (with the node tests) a second time in .venv-jazzy, on
  the ros-jazzy-* PyPI wheels, with RXSSNET_EXPECT_ROS_DISTRO=jazzy; there it also proves that the run really
  used Jazzy and no ROS module of the Kilted venv whose site-packages it borrows (torch, numpy, ...).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import os
import pathlib
import re
import sys
import warnings
from importlib import metadata

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(__file__).parent / "data"
API_TSVS = {"humble": DATA / "rclpy_humble_api.tsv", "jazzy": DATA / "rclpy_jazzy_api.tsv"}
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
# rclpy's major version per distribution (ros2/rclpy branches)
RCLPY_MAJOR_TO_DISTRO = {3: "humble", 4: "iron", 7: "jazzy", 9: "kilted"}
# Node classes whose methods the package calls on its nodes
NODE_CLASSES = ("Node", "LifecycleNodeMixin")
IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError")


@dataclasses.dataclass(frozen=True)
class RclpyApi:
    modules: frozenset[str]
    names: frozenset[tuple[str, str]]  # (module, "Name") and (module, "Class.method")

    @classmethod
    def load(cls, path: pathlib.Path) -> RclpyApi:
        modules, names = set(), set()
        for line in path.read_text().splitlines():
            if line.startswith("#") or "\t" not in line:
                continue
            module, name = line.split("\t", 1)
            modules.add(module)
            names.add((module, name))
        return cls(frozenset(modules), frozenset(names))

    def has(self, module: str, name: str | None = None) -> bool:
        if name is None:
            return module in self.modules
        if "." in name:  # Class.member: listed under the module that defines the class, maybe not `module`
            cls, member = name.split(".", 1)
            return member in self.class_members(cls)
        return (module, name) in self.names or f"{module}.{name}" in self.modules

    def class_members(self, name: str) -> set[str]:
        """Listed members (methods) of the class `name`, in any module."""
        return {entry.split(".", 1)[1] for _, entry in self.names if entry.startswith(f"{name}.")}

    def node_method(self, method: str) -> bool:
        return any(self.has(module, f"{cls}.{method}") for module in ("rclpy.node", "rclpy.lifecycle.node")
                   for cls in NODE_CLASSES)


@dataclasses.dataclass(frozen=True)
class RclpyUse:
    """One rclpy module or name used at path:line; uses with the same `group` are alternatives (compat)."""

    path: str
    line: int
    module: str
    name: str | None  # None: the module itself; "Class.member" for a member of an imported class
    group: tuple[str, int, str] | None  # (path, line of the outermost try/except ImportError, local name)

    def __str__(self) -> str:
        return f"{self.module}{'.' + self.name if self.name else ''} ({self.path}:{self.line})"


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        if any(isinstance(n, ast.Name) and n.id in IMPORT_ERRORS for n in ast.walk(handler.type)):
            return True
    return False


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


class _Scanner(ast.NodeVisitor):
    """Collects the rclpy uses of one module: imports, attribute access on rclpy modules and imported classes."""

    def __init__(self, path: str, api: RclpyApi) -> None:
        self.path = path
        self.api = api  # only to tell submodules from names (`from rclpy import qos`)
        self.uses: list[RclpyUse] = []
        self.local: dict[str, tuple[str, str | None]] = {}  # local name -> (module, None) or (module, Name)
        self.guard: int | None = None

    def _use(self, line: int, module: str, name: str | None, local: str) -> None:
        group = (self.path, self.guard, local) if self.guard is not None else None
        self.uses.append(RclpyUse(self.path, line, module, name, group))

    def visit_Try(self, node: ast.Try) -> None:
        if self.guard is not None or not _catches_import_error(node):
            self.generic_visit(node)
            return
        self.guard = node.lineno  # body and handlers hold the alternatives of this one group
        self.generic_visit(node)
        self.guard = None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] != "rclpy":
                continue
            self._use(node.lineno, alias.name, None, alias.asname or alias.name)
            if alias.asname:
                self.local[alias.asname] = (alias.name, None)
            else:
                self.local["rclpy"] = ("rclpy", None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.module or node.module.split(".")[0] != "rclpy":
            return
        for alias in node.names:
            local = alias.asname or alias.name
            self._use(node.lineno, node.module, alias.name, local)
            submodule = f"{node.module}.{alias.name}"
            is_module = any(m == submodule for m in self.api.modules)
            self.local[local] = (submodule, None) if is_module else (node.module, alias.name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = _attribute_chain(node)
        if chain and chain[0] in self.local and not isinstance(getattr(node, "ctx", None), ast.Store):
            self._attribute_use(node.lineno, chain)
            return  # the inner Attribute nodes are part of this chain
        self.generic_visit(node)

    def _attribute_use(self, line: int, chain: list[str]) -> None:
        module, name = self.local[chain[0]]
        rest = chain[1:]
        if name is None:  # walk down submodules: rclpy.qos.QoSProfile -> module rclpy.qos, name QoSProfile
            while rest and f"{module}.{rest[0]}" in self.api.modules:
                module = f"{module}.{rest.pop(0)}"
            if not rest:
                return
            name = rest.pop(0)
            self._use(line, module, name, chain[0])
        if rest and not rest[0].isupper():  # a class member; ALL_CAPS are enum values, not listed in the API
            self._use(line, module, f"{name}.{rest[0]}", chain[0])


def package_sources() -> list[pathlib.Path]:
    return sorted((REPO / "rxssnet_ros").rglob("*.py"))


def scan(source: str, path: str, api: RclpyApi) -> list[RclpyUse]:
    scanner = _Scanner(path, api)
    scanner.visit(ast.parse(source, path))
    return scanner.uses


def node_method_calls(sources: list[pathlib.Path]) -> list[tuple[str, int, str]]:
    """`<anything>.method(...)` calls in modules that import rclpy, for methods the package does not define."""
    trees = {path: ast.parse(path.read_text(), str(path)) for path in sources}
    defined = {n.name for tree in trees.values() for n in ast.walk(tree)
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    calls = []
    for path, tree in trees.items():
        if "rclpy" not in path.read_text():
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr not in defined):
                calls.append((str(path.relative_to(REPO)), node.lineno, node.func.attr))
    return calls


def missing_uses(uses: list[RclpyUse], api: RclpyApi) -> list[str]:
    """Unguarded uses that `api` lacks, and compat groups of which no alternative exists in `api`."""
    problems = []
    groups: dict[tuple[str, int, str], list[RclpyUse]] = {}
    for use in uses:
        if use.group is None:
            if not api.has(use.module, use.name):
                problems.append(f"missing: {use}")
        else:
            groups.setdefault(use.group, []).append(use)
    for (path, line, local), alternatives in groups.items():
        if not any(api.has(use.module, use.name) for use in alternatives):
            problems.append(f"no alternative exists for {local} ({path}:{line}): "
                            + ", ".join(str(use) for use in alternatives))
    return problems


@pytest.fixture(scope="module", params=sorted(API_TSVS))
def distro_api(request) -> tuple[str, RclpyApi]:
    return request.param, RclpyApi.load(API_TSVS[request.param])


def test_every_rclpy_name_the_package_uses_exists(distro_api):
    distro, api = distro_api
    uses = [use for path in package_sources()
            for use in scan(path.read_text(), str(path.relative_to(REPO)), api)]
    # the scan sees what the node really uses (a scanner that finds nothing would pass anything)
    seen = {(use.module, use.name) for use in uses}
    assert ("rclpy.qos", "QoSProfile") in seen and ("rclpy.lifecycle", "LifecycleNode") in seen
    assert any(use.group and use.name == "SubscriptionEventCallbacks" for use in uses)
    assert not missing_uses(uses, api), f"rclpy names missing on {distro}:\n" + "\n".join(missing_uses(uses, api))


def test_every_node_method_the_package_calls_exists(distro_api):
    distro, api = distro_api
    rclpy_node = pytest.importorskip("rclpy.node")
    lifecycle = pytest.importorskip("rclpy.lifecycle")
    # methods of this rclpy's Node (and lifecycle mixin) that the package calls without defining them itself
    node_methods = {name for cls in (rclpy_node.Node, lifecycle.LifecycleNodeMixin) for name in dir(cls)
                    if not name.startswith("_")}
    calls = [(path, line, method) for path, line, method in node_method_calls(package_sources())
             if method in node_methods]
    assert any(method == "create_subscription" for _, _, method in calls)
    missing = [f"Node.{method} ({path}:{line})" for path, line, method in calls if not api.node_method(method)]
    assert not missing, f"Node methods missing on {distro}:\n" + "\n".join(missing)


def test_the_check_fails_on_a_name_a_distribution_lacks():
    humble = RclpyApi.load(API_TSVS["humble"])
    jazzy = RclpyApi.load(API_TSVS["jazzy"])
    iron_only = "from rclpy.event_handler import SubscriptionEventCallbacks\n"
    assert missing_uses(scan(iron_only, "x.py", humble), humble)
    assert not missing_uses(scan(iron_only, "x.py", jazzy), jazzy)
    compat = ("try:\n    from rclpy.event_handler import SubscriptionEventCallbacks\nexcept ImportError:\n"
              "    from rclpy.qos_event import SubscriptionEventCallbacks\n")
    assert not missing_uses(scan(compat, "x.py", humble), humble)
    both_missing = compat.replace("qos_event", "no_such_module").replace("event_handler", "nor_this")
    assert missing_uses(scan(both_missing, "x.py", jazzy), jazzy)
    attribute = "import rclpy\nrclpy.qos.QoSProfile\nrclpy.no_such_function()\n"
    problems = missing_uses(scan(attribute, "x.py", jazzy), jazzy)
    assert len(problems) == 1 and "rclpy.no_such_function" in problems[0]
    method = "from rclpy.time import Time\nTime.from_msg\nTime.no_such_method\n"
    problems = missing_uses(scan(method, "x.py", humble), humble)
    assert len(problems) == 1 and "Time.no_such_method" in problems[0]


def test_event_handler_names_come_from_compat_only():
    """The distribution-dependent modules are imported in one place (rxssnet_ros/compat.py)."""
    pattern = re.compile(r"^\s*(from|import)\s+rclpy\.(event_handler|qos_event)\b", re.MULTILINE)
    users = [str(p.relative_to(REPO)) for p in package_sources() if pattern.search(p.read_text())]
    assert users == ["rxssnet_ros/compat.py"]


def test_api_tables_match_the_workplace_reference():
    """test/data holds verbatim copies (after one note line); compared while ../shared/reference exists."""
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("../shared/reference is not beside this checkout")
    for distro, copy in API_TSVS.items():
        lines = copy.read_text().splitlines(keepends=True)
        assert lines[0].startswith("# Copied verbatim")
        assert "".join(lines[1:]) == (SHARED_REFERENCE / f"rclpy_{distro}_api.tsv").read_text(), copy


def test_package_does_not_reach_into_the_workplace():
    """Run time never needs ../shared: no package, launch or config file names it."""
    files = [*package_sources(), *(REPO / "rxssnet_core").rglob("*.py"), *(REPO / "launch").glob("*.py"),
             *(REPO / "config").rglob("*.yaml")]
    assert not [str(f) for f in files if re.search(r"\.\./shared|/work/shared", f.read_text())]


def test_compat_imports_without_deprecation_warnings():
    pytest.importorskip("rclpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Jazzy's rclpy.qos_event warns: compat must prefer event_handler
        compat = importlib.reload(importlib.import_module("rxssnet_ros.compat"))
    assert compat.SubscriptionEventCallbacks.__module__ in ("rclpy.event_handler", "rclpy.qos_event")
    assert compat.SubscriptionEventCallbacks(incompatible_qos=lambda info: None).incompatible_qos is not None


def _distribution_of(module) -> metadata.Distribution:
    """The installed distribution that holds `module` (searched where the module is, not the first on sys.path)."""
    site = str(pathlib.Path(module.__file__).resolve().parents[1])
    top = module.__name__.split(".")[0]
    for dist in metadata.distributions(path=[site]):
        names = (dist.read_text("top_level.txt") or "").split()
        files = [str(f) for f in dist.files or ()]
        if top in names or any(f.startswith(f"{top}/") for f in files):
            return dist
    raise AssertionError(f"no distribution in {site} holds {top}")


def test_one_ros_distribution_in_this_process():
    """rclpy, the message packages and the C libraries loaded all come from this interpreter's environment."""
    rclpy = pytest.importorskip("rclpy")
    import diagnostic_msgs.msg
    import lifecycle_msgs.msg
    import rcl_interfaces.msg
    import sensor_msgs.msg

    from rxssnet_ros import compat, eval_node, qos_doctor, segment_node  # noqa: F401 (they import on this rclpy)

    rclpy.init()
    try:
        node = rclpy.create_node("distro_probe")
        node.create_subscription(sensor_msgs.msg.Image, "probe", lambda msg: None, 1,
                                 event_callbacks=compat.SubscriptionEventCallbacks())
        node.destroy_node()
    finally:
        rclpy.shutdown()
    prefix = pathlib.Path(sys.prefix).resolve()
    rclpy_site = pathlib.Path(rclpy.__file__).resolve().parents[1]
    for module in (sensor_msgs.msg, diagnostic_msgs.msg, lifecycle_msgs.msg, rcl_interfaces.msg):
        assert pathlib.Path(module.__file__).resolve().is_relative_to(rclpy_site), module.__file__
    with open("/proc/self/maps") as maps:
        libraries = {line.split()[-1] for line in maps if re.search(r"/lib(rcl|rmw|fastrtps|fastdds)\w*\.so", line)}
    assert any("/librcl.so" in lib for lib in libraries), libraries
    if prefix.is_relative_to(rclpy_site.parents[2]):  # a venv holding the PyPI wheels: the libraries are its own
        assert all(pathlib.Path(lib).resolve().is_relative_to(prefix) for lib in libraries), libraries


def test_expected_ros_distribution():
    """In `make test`'s Jazzy run: rclpy is Jazzy's, and no module of the Kilted venv's ros-* wheels is loaded."""
    expected = os.environ.get("RXSSNET_EXPECT_ROS_DISTRO")
    if not expected:
        pytest.skip("RXSSNET_EXPECT_ROS_DISTRO is not set (only the Jazzy run of `make test` sets it)")
    rclpy = importlib.import_module("rclpy")
    from rxssnet_ros import eval_node, segment_node  # noqa: F401 (load everything the node loads)

    version = _distribution_of(rclpy).version
    assert RCLPY_MAJOR_TO_DISTRO.get(int(version.split(".")[0])) == expected, f"rclpy {version}"
    # the ros-wheels-bootstrapper's LD_LIBRARY_PATH: every folder with ROS libraries is this environment's
    prefix = pathlib.Path(sys.prefix).resolve()
    ros_dirs = [pathlib.Path(p).resolve() for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    ros_dirs = [p for p in ros_dirs if re.fullmatch(r"ros_\w+\.libs", p.name) or any(p.glob("librcl*.so*"))]
    assert ros_dirs and all(p.is_relative_to(prefix) for p in ros_dirs), ros_dirs
    # modules from ros-* wheels found anywhere else on sys.path (the borrowed site-packages) must not be loaded
    own_site = pathlib.Path(rclpy.__file__).resolve().parents[1]
    ros_tops: dict[pathlib.Path, set[str]] = {}  # site-packages -> top-level names of its ros-* wheels
    foreign = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or pathlib.Path(file).resolve().is_relative_to(own_site):
            continue
        site = next((p for p in pathlib.Path(file).resolve().parents if p.name == "site-packages"), None)
        if site is None:
            continue
        if site not in ros_tops:
            ros_tops[site] = {str(f).split("/")[0] for dist in metadata.distributions(path=[str(site)])
                              if dist.metadata["Name"].lower().startswith("ros-") for f in dist.files or ()}
        if name.split(".")[0] in ros_tops[site]:
            foreign.append(f"{name} ({file})")
    assert not foreign, "ROS modules of another distribution were loaded:\n" + "\n".join(foreign)
