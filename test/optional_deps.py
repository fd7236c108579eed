# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The optional packages a test may need, and how a test that needs a missing one is skipped with the reason.

Each README install path leaves some out (the robot installs requirements/core.txt only): `colcon test` and
`make test` skip what needs them instead of erroring (test/conftest.py applies this to every module and test).
"""

from __future__ import annotations

import importlib.util

import pytest

# What a test module may need that an install path leaves out (README.md "Build"): the robot installs core.txt only,
# so `colcon test` there must skip these modules with the reason instead of erroring at collection.
OPTIONAL_DEPENDENCIES = {
    "torch": "requirements/torch.txt",
    "torchvision": "requirements/torch.txt",
    "timm": "requirements/model.txt",
    "onnxscript": "requirements/train.txt",
    "tensorboard": "requirements/train.txt",
    "matplotlib": "requirements/train.txt",
    "rosbags": "requirements/bags.txt",
    "lz4": "requirements/bags.txt",
    "backports.zstd": "requirements/bags.txt",
    "rosbags.image": "requirements/dev.txt",
    "openvino": "requirements/openvino.txt",
    "nncf": "requirements/openvino.txt",
    "tensorrt": "requirements/tensorrt.txt",
    "modelopt": "requirements/tensorrt.txt",
}


def missing_optional_dependency(error: BaseException | None) -> str | None:
    """The optional package whose absence caused `error` (an import failure, or one raised from it), else None.

    Only a package that is really not installed counts: a broken import inside an installed package stays an error.
    """
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            for package in OPTIONAL_DEPENDENCIES:
                if _names_package(error.name, package) and not installed(package):
                    return package
        error = error.__cause__ or error.__context__
    return None


def skip_reason(package: str) -> str:
    """Why a test that needs `package` is skipped, with the requirement file that installs it."""
    where = OPTIONAL_DEPENDENCIES.get(package)
    how = f"pip install -r {where}" if where else 'see README.md "Build"'
    return f"needs {package} (not installed here: {how})"


def require(*packages: str) -> None:
    """Skips the calling test, with the reason, unless every one of `packages` is installed (without importing it)."""
    for package in packages:
        if not installed(package):
            pytest.skip(skip_reason(package))


def _names_package(module: str, package: str) -> bool:
    """Whether a missing `module` is `package`, inside it, or its namespace (`backports` of `backports.zstd`)."""
    return module == package or module.startswith(package + ".") or package.startswith(module + ".")


def installed(package: str) -> bool:
    """Whether `package` can be imported here, found without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # its parent namespace is missing too
        return False
