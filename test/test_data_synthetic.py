# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The synthetic fusion generator: determinism, layout, and classes visible only in RGB or only in thermal."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
import yaml

from rxssnet_core.data import DATASETS, DatasetError, build_dataset
from rxssnet_core.data.synthetic import (
    BACKGROUND,
    PAINTED_MARKER,
    VEHICLE,
    WARM_PERSON,
    generate_fusion_dataset,
    generate_scene,
)

SMALL = {"train": 6, "val": 2, "test": 3}


def tree_digest(root) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_generate_scene_shapes_and_determinism():
    rgb, thermal, label = generate_scene(np.random.default_rng(7), (40, 56))
    assert rgb.shape == (40, 56, 3) and rgb.dtype == np.uint8
    assert thermal.shape == (40, 56) and thermal.dtype == np.uint8
    assert label.shape == (40, 56) and label.dtype == np.uint8
    assert set(np.unique(label)) <= {0, 1, 2, 3} and (label > 0).any()
    again = generate_scene(np.random.default_rng(7), (40, 56))
    for a, b in zip((rgb, thermal, label), again):
        np.testing.assert_array_equal(a, b)
    other = generate_scene(np.random.default_rng(8), (40, 56))
    assert not np.array_equal(rgb, other[0])
    with pytest.raises(DatasetError, match="too small"):
        generate_scene(np.random.default_rng(0), (4, 4))


def test_dataset_layout_and_bytes_are_deterministic(tmp_path):
    first = generate_fusion_dataset(tmp_path / "a", counts=SMALL, size=(32, 48), seed=3, progress=False)
    second = generate_fusion_dataset(tmp_path / "b", counts=SMALL, size=(32, 48), seed=3, progress=False)
    third = generate_fusion_dataset(tmp_path / "c", counts=SMALL, size=(32, 48), seed=4, progress=False)
    assert tree_digest(first) == tree_digest(second) != tree_digest(third)
    meta = yaml.safe_load((first / "dataset.yaml").read_text())
    assert meta["modality"] == "thermal" and meta["class_names"] == DATASETS["synthetic_fusion"].class_names
    assert (first / "splits" / "val.txt").read_text() == "val_0000\nval_0001\n"
    for split, count in SMALL.items():
        ds = build_dataset("synthetic_fusion", first, split)
        assert len(ds) == count and ds.stems[0] == f"{split}_0000"
    raw = build_dataset("generic", first, "train").read_raw(0)  # also readable as a plain generic folder
    assert raw.x.dtype == np.uint8 and raw.x.ndim == 2 and raw.rgb.shape == (32, 48, 3)
    with pytest.raises(DatasetError, match=r"counts\['val'\]=0"):
        generate_fusion_dataset(tmp_path / "d", counts={"val": 0}, progress=False)


def boundary_contrast(image: np.ndarray, mask: np.ndarray, objects: np.ndarray) -> float | None:
    """|mean just inside the object's edge - mean just outside it (on background)|, over channels (max)."""
    kernel = np.ones((5, 5), np.uint8)
    mask8 = mask.astype(np.uint8)
    inner = mask & ~cv2.erode(mask8, kernel).astype(bool)
    outer = cv2.dilate(mask8, kernel).astype(bool) & ~mask & ~objects
    if inner.sum() < 10 or outer.sum() < 10:
        return None
    values = image.reshape(*mask.shape, -1).astype(np.float64)
    return float(np.abs(values[inner].mean(0) - values[outer].mean(0)).max())


def test_classes_are_visible_only_in_their_modality():
    """Edge contrast: painted_marker shows in RGB only, warm_person in thermal only, vehicle in both."""
    rng = np.random.default_rng(0)
    contrast = {cls: {"rgb": [], "t": []} for cls in (PAINTED_MARKER, WARM_PERSON, VEHICLE)}
    for _ in range(60):
        rgb, thermal, label = generate_scene(rng, (96, 128))
        n_components, components = cv2.connectedComponents((label > 0).astype(np.uint8))
        for index in range(1, n_components):
            region = components == index
            classes = np.unique(label[region])
            if len(classes) != 1:  # touching objects of different classes: no clean edge
                continue
            mask = region
            for key, image in (("rgb", rgb), ("t", thermal)):
                value = boundary_contrast(image, mask, label > 0)
                if value is not None:
                    contrast[int(classes[0])][key].append(value)
    for cls in contrast:
        assert len(contrast[cls]["rgb"]) >= 10, f"class {cls} too rare for the test"
    marker, person, vehicle = contrast[PAINTED_MARKER], contrast[WARM_PERSON], contrast[VEHICLE]
    assert min(marker["rgb"]) > 40 and max(marker["t"]) < 6
    assert min(person["t"]) > 50 and max(person["rgb"]) < 8
    assert min(vehicle["rgb"]) > 40 and min(vehicle["t"]) > 25


def test_backgrounds_are_textured_and_every_class_appears(tmp_path):
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(20):
        rgb, thermal, label = generate_scene(rng, (96, 128))
        background = label == BACKGROUND
        assert rgb[background].std(axis=0).min() > 4 and thermal[background].std() > 3
        seen |= set(np.unique(label).tolist())
    assert seen == {0, 1, 2, 3}


def test_night_domain_collapses_rgb_contrast_and_keeps_thermal() -> None:
    """The data-engine benchmark's domain shift: the same scene, thermal and labels unchanged, RGB dark and flat."""
    from rxssnet_core.data.synthetic import DOMAINS

    assert DOMAINS == ("day", "night")
    day_rgb, day_thermal, day_label = generate_scene(np.random.default_rng(4), (48, 64), "day")
    night_rgb, night_thermal, night_label = generate_scene(np.random.default_rng(4), (48, 64), "night")
    np.testing.assert_array_equal(night_thermal, day_thermal)
    np.testing.assert_array_equal(night_label, day_label)
    assert night_rgb.mean() < 0.25 * day_rgb.mean()
    assert night_rgb.astype(float).std() < 0.25 * day_rgb.astype(float).std()
    with pytest.raises(DatasetError, match="domain"):
        generate_scene(np.random.default_rng(4), (48, 64), "rain")
