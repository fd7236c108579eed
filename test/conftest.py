"""Shared test set-up: ROS traffic stays on loopback in a per-run domain; GPU tests skip without CUDA."""

from __future__ import annotations

import os
import pathlib
import tempfile

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# DDS discovery must never multicast off this machine, and parallel runs must not see each other.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO_ROOT / "config" / "fastdds_large_images.xml"))
# Exported ONNX files and engines of test models must not pile up in the user's ~/.cache.
os.environ.setdefault("RXSSNET_CACHE_DIR", tempfile.mkdtemp(prefix="rxssnet-test-cache-"))


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA (no GPU on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


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
