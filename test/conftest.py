# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared test set-up: ROS traffic stays on loopback in a per-run domain; GPU tests skip without CUDA."""

from __future__ import annotations

import atexit
import collections
import dataclasses
import os
import pathlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from optional_deps import missing_optional_dependency, skip_reason

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# DDS discovery must never multicast off this machine, and parallel runs must not see each other.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
# `make test` runs the suite in pytest-xdist workers ("gw0", "gw1", ...): each gets a domain of its own, so that
# one worker's nodes never answer another worker's test, and an even share of the cores for torch and OpenMP
# (two workers with two threads each on two cores would spin against each other).
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER.startswith("gw"):
    os.environ["ROS_DOMAIN_ID"] = str((int(os.environ["ROS_DOMAIN_ID"]) + 1 + int(_XDIST_WORKER[2:])) % 100)
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO_ROOT / "config" / "fastdds_large_images.xml"))
# Exported ONNX files and engines of test models must not pile up in the user's ~/.cache, nor in /tmp: the
# process that makes the folder removes it as it exits (xdist workers inherit the variable and make none).
if "RXSSNET_CACHE_DIR" not in os.environ:
    _TEST_CACHE_DIR = tempfile.mkdtemp(prefix="rxssnet-test-cache-")
    os.environ["RXSSNET_CACHE_DIR"] = _TEST_CACHE_DIR
    atexit.register(shutil.rmtree, _TEST_CACHE_DIR, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # pyproject.toml's `timeout` is pytest-timeout's: an install without the plugin (ROS's pytest has no rosdep key
    # for it) runs the tests without a time limit instead of warning about an unknown option.
    if not pluginmanager.hasplugin("timeout"):
        parser.addini("timeout", "pytest-timeout's per-test limit in seconds; unused without pytest-timeout")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): pytest-timeout's per-test limit; unused without it")
    # pytest-xdist hands groups out largest first (by number of tests) unless told otherwise: the fusion model's
    # group, 6 tests but 9-10 minutes, then started 3-4 minutes into the run and ended it alone. The hand-out order
    # is decided in one place, pytest_collection_modifyitems below.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


class OptionalDependencyModule(pytest.Module):
    """A test module that is skipped, with the reason, when it imports an optional package this install lacks."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        try:
            return super().collect()
        except pytest.Collector.CollectError as error:
            missing = missing_optional_dependency(error)
            if missing is None:
                raise
            pytest.skip(skip_reason(missing), allow_module_level=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test (or its fixture) that imports an optional package this install lacks is skipped with the reason."""
    report = yield
    missing = missing_optional_dependency(call.excinfo.value) if call.excinfo is not None else None
    if missing is not None and report.failed:
        report.outcome = "skipped"
        path, line, _ = item.reportinfo()
        report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {skip_reason(missing)}")
    return report


def pytest_pycollect_makemodule(module_path: pathlib.Path, parent: pytest.Collector) -> pytest.Module:
    return OptionalDependencyModule.from_parent(parent, path=module_path)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


# The first test that asks for the session's fusion model also pays for its training (7-8 minutes on one thread of
# a 2-core machine, more when the cores are shared): pytest-timeout counts fixture setup in the test's 600 s.
FUSION_MODEL_TIMEOUT_S = 1800
FUSION_GROUP = "fusion_model"  # the pytest-xdist group of every test that uses the fusion_model fixture


# a wrapper, so that the marks are there before pytest-xdist's own hook turns them into groups (--dist loadgroup)
@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    _mark_items(items)
    # xdist hands groups out in this order (pytest_configure turns its own reordering off). The fusion model's group
    # is the longest (training, then its tests): first, so that the other worker shares out the rest meanwhile
    # instead of the fusion worker ending the run alone. Then larger groups before smaller ones (by number of
    # tests, xdist's own rule), so that the last groups handed out are short.
    sizes = collections.Counter(_group_of(item) for item in items)
    items.sort(key=lambda item: (_group_of(item) != FUSION_GROUP, -sizes[_group_of(item)]))
    return (yield)


def _group_of(item: pytest.Item) -> str:
    """The pytest-xdist group of a test: the fusion model's, or its file's."""
    return FUSION_GROUP if "fusion_model" in getattr(item, "fixturenames", ()) else item.nodeid.split("::", 1)[0]


def _mark_items(items: list[pytest.Item]) -> None:
    for item in items:
        # Under `--dist loadgroup` (make test) a group runs on one worker: one worker trains the fusion model and
        # runs every test that uses it; the other tests stay with their file, whose module fixtures (node
        # graphs, datasets) are then built once.
        group = _group_of(item)
        if group == FUSION_GROUP:
            item.add_marker(pytest.mark.timeout(FUSION_MODEL_TIMEOUT_S))
        item.add_marker(pytest.mark.xdist_group(group))
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA (no GPU on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def _torch_threads_expected() -> int | None:
    """The torch thread count every test must leave behind: this worker's share of the cores under xdist."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if _XDIST_WORKER and value.isdigit() else None


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    # A test (or a test module, at import) that leaves torch on more threads than its worker's share makes both
    # workers spin against each other for the rest of the session: the suite once ran 3x slower that way.
    expected = _torch_threads_expected()
    torch = sys.modules.get("torch")
    if expected is None or torch is None:
        return
    if torch.get_num_threads() != expected:
        found = torch.get_num_threads()
        torch.set_num_threads(expected)
        raise RuntimeError(f"{item.nodeid} (or its module, at import) left torch on {found} threads instead of this "
                           f"xdist worker's {expected}: restore the count after torch.set_num_threads")


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for a child ROS process: loopback discovery and this run's own domain."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A small random RXSSNet (atto, 5 classes, thermal) saved in our own format."""
    import torch

    from rxssnet_core import ModelConfig, build_model, save_model
    from rxssnet_core.preprocessing import PreprocessConfig

    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=5, decoder_dim=32))
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_model(model, path, metadata={
        "preprocess": PreprocessConfig(modality="thermal").to_dict(),
        "class_names": ["background", "a", "b", "c", "d"],
        "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]],
        "dataset": "test",
    })
    return path


@dataclasses.dataclass(frozen=True)
class FusionModel:
    """A small RXSSNet trained by the Trainer on the synthetic RGB-thermal scenes (see test_fusion_proof.py)."""

    checkpoint: pathlib.Path  # final.safetensors: the end of the schedule (see test_fusion_proof.py for why)
    dataset_root: pathlib.Path  # generate_fusion_dataset output: train 64, val 16, test 16 scenes of 128x160
    run_dir: pathlib.Path  # the Trainer's output folder (tensorboard/, checkpoints/, ...)
    result: Any  # rxssnet_core.training.TrainResult
    train_seconds: float


@pytest.fixture(scope="session")
def fusion_model(tmp_path_factory: pytest.TempPathFactory) -> FusionModel:
    """Trains config/train/synthetic_fusion.yaml once per test session (about 7.5 minutes on one CPU thread).

    Every test that needs realistic (trained) activations shares this one model: the fusion proof, the
    half-precision parity tests and the reduced-precision backend checks.
    """
    from rxssnet_core.data.synthetic import generate_fusion_dataset
    from rxssnet_core.training import Trainer, load_train_config

    base = tmp_path_factory.mktemp("fusion")
    started = time.perf_counter()
    root = generate_fusion_dataset(base / "data", counts={"train": 64, "val": 16, "test": 16},
                                   size=(128, 160), seed=0, progress=False)
    config = load_train_config(REPO_ROOT / "config" / "train" / "synthetic_fusion.yaml",
                               [f"dataset.root={root}", f"output_dir={base / 'run'}"])
    result = Trainer(config).fit()
    assert result.finished and result.best_path is not None
    return FusionModel(checkpoint=pathlib.Path(result.final_path), dataset_root=pathlib.Path(root),
                       run_dir=base / "run", result=result, train_seconds=time.perf_counter() - started)
