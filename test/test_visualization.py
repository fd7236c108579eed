# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Palette colouring and overlays."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.visualization import as_palette, colorize, overlay, voc_palette


def test_voc_palette_first_entries():
    palette = voc_palette(4)
    assert palette.tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]


def test_as_palette_fills_missing_entries_from_voc():
    palette = as_palette([[1, 2, 3]], 3)
    assert palette[0].tolist() == [1, 2, 3]
    assert palette[1:].tolist() == voc_palette(3)[1:].tolist()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
def test_colorize_uses_palette_and_blacks_out_hidden_classes(dtype):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (17, 23)).astype(dtype)
    palette = as_palette(rng.integers(0, 256, (6, 3)), 6)
    np.testing.assert_array_equal(colorize(labels, palette), palette[labels.astype(np.int64)])
    hidden = colorize(labels, palette, shown_classes=[2, 4])
    assert (hidden[~np.isin(labels, [2, 4])] == 0).all()
    np.testing.assert_array_equal(hidden[labels == 4], palette[4][None].repeat((labels == 4).sum(), 0))


def test_colorize_labels_beyond_palette_are_black():
    labels = np.array([[0, 9]], dtype=np.uint16)
    assert colorize(labels, voc_palette(3))[0, 1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_overlay_blends_within_rounding(alpha):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (11, 13, 3)).astype(np.uint8)
    labels = rng.integers(0, 4, (11, 13)).astype(np.uint8)
    palette = voc_palette(4)
    expected = rgb * (1 - alpha) + palette[labels] * alpha
    assert np.abs(overlay(rgb, labels, palette, alpha) - expected).max() <= 0.5 + 1e-9


def test_overlay_keeps_rgb_where_classes_are_hidden():
    rgb = np.full((4, 4, 3), 200, np.uint8)
    labels = np.array([[0, 1, 2, 3]] * 4, np.uint8)
    out = overlay(rgb, labels, voc_palette(4), 1.0, shown_classes=[1])
    np.testing.assert_array_equal(out[labels != 1], rgb[labels != 1])
    np.testing.assert_array_equal(out[labels == 1], voc_palette(4)[[1] * 4])


def test_overlay_with_precomputed_masked_colors_equals_plain_overlay():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
    labels = rng.integers(0, 4, (9, 7)).astype(np.uint8)
    palette = voc_palette(4)
    for shown in (None, [1, 3]):
        colors = colorize(labels, palette, shown)
        np.testing.assert_array_equal(overlay(rgb, labels, palette, 0.4, shown, colors=colors),
                                      overlay(rgb, labels, palette, 0.4, shown))
