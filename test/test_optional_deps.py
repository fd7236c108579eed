# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""A test that needs a package this install lacks is skipped with the reason; any other import failure is an error."""

from __future__ import annotations

import pytest
from optional_deps import OPTIONAL_DEPENDENCIES, installed, missing_optional_dependency, require, skip_reason


def missing(name: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.mark.skipif(installed("tensorrt"), reason="TensorRT is installed here")
def test_a_missing_optional_package_is_named_through_the_errors_raised_from_it():
    assert missing_optional_dependency(missing("tensorrt")) == "tensorrt"
    assert missing_optional_dependency(missing("tensorrt.plugin")) == "tensorrt"
    try:
        try:
            raise missing("tensorrt")
        except ImportError as error:
            raise RuntimeError("the backend needs TensorRT") from error
    except RuntimeError as wrapped:
        assert missing_optional_dependency(wrapped) == "tensorrt"
    assert skip_reason("tensorrt") == "needs tensorrt (not installed here: pip install -r requirements/tensorrt.txt)"


def test_a_missing_namespace_counts_for_the_package_inside_it():
    if installed("backports.zstd"):
        assert missing_optional_dependency(missing("backports")) is None
    else:
        assert missing_optional_dependency(missing("backports")) == "backports.zstd"


def test_other_import_failures_stay_errors():
    assert missing_optional_dependency(missing("numpy")) is None  # not optional: every install has it
    assert missing_optional_dependency(missing("rxssnet_core.no_such_module")) is None
    assert missing_optional_dependency(ValueError("unrelated")) is None
    assert missing_optional_dependency(None) is None


def test_an_installed_optional_package_that_fails_to_import_is_an_error():
    present = [package for package in OPTIONAL_DEPENDENCIES if installed(package)]
    if not present:
        pytest.skip("no optional package is installed here")
    assert missing_optional_dependency(missing(present[0])) is None


def test_require_skips_only_for_a_missing_package():
    require("pytest")
    with pytest.raises(pytest.skip.Exception, match="needs no_such_package_xyz"):
        require("no_such_package_xyz")
