# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Augmentation: one random state for RGB, X and label; pixel-exact alignment under flip, scale and crop."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.data import AugmentConfig, DatasetError
from rxssnet_core.data.augmentation import RECIPE_SCALES, ModalityDropout, augment, draw_params
from rxssnet_core.degradation import DegradationParams, blank_rgb
from rxssnet_core.preprocessing import PreprocessConfig, neutral_x

H, W = 30, 44
OFFSET = 300  # label codes start above 255 so padding (255) is never a valid code


def coordinate_sample(x_channels: int = 1):
    """RGB channels = (column, row, 7), X = column (or its 3 copies), label = OFFSET + row * W + column."""
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([cols, rows, np.full_like(cols, 7.0)])
    x = np.repeat(cols[None], x_channels, axis=0)
    label = (OFFSET + rows * W + cols).astype(np.uint16)
    return rgb, x, label


def decode(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    code = label.astype(np.int64) - OFFSET
    return code // W, code % W


@pytest.mark.parametrize("crop", [(24, 32), (40, 60), None])
def test_rgb_x_label_stay_aligned_over_many_seeds(crop):
    rgb, x, label = coordinate_sample(x_channels=3)
    config = AugmentConfig(crop_size=crop)
    for seed in range(60):
        params = draw_params(H, W, config, np.random.default_rng(seed))
        out_rgb, out_x, out_label = augment(rgb, x, label, config, np.random.default_rng(seed))
        if crop is not None:
            assert out_rgb.shape == (3, *crop) and out_x.shape == (3, *crop) and out_label.shape == crop
        valid = out_label != 255
        # X went through exactly the same geometry as RGB (same resize, same crop, same padding).
        np.testing.assert_array_equal(out_x[0], out_rgb[0])
        np.testing.assert_array_equal(out_x[2], out_rgb[0])
        label_row, label_col = decode(out_label[valid])
        image_col, image_row = out_rgb[0][valid], out_rgb[1][valid]
        # Both carry source coordinates, so a flip shows as columns decreasing left to right, in both.
        row = int(np.argmax(valid.any(axis=1)))
        label_cols, image_cols = decode(out_label[row][valid[row]])[1], out_rgb[0][row][valid[row]]
        step = -1 if params.flip else 1
        assert label_cols[-1] != label_cols[0]
        assert (np.diff(label_cols) * step >= 0).all() and (np.diff(image_cols) * step >= 0).all()
        # Bilinear images sample at the pixel centre, nearest labels at the nearest source pixel: they agree
        # to within half a source pixel, and exactly at scale 1.
        tolerance = 1e-4 if params.scale == 1.0 else 0.5 + 1e-4
        assert np.abs(image_col - label_col).max() <= tolerance, (seed, params)
        assert np.abs(image_row - label_row).max() <= tolerance, (seed, params)
        # The constant channel proves padding hit all channels at the same pixels: 7 inside, 0 in the pad.
        np.testing.assert_array_equal(out_rgb[2][valid], 7.0)
        np.testing.assert_array_equal(out_rgb[:, ~valid], 0.0)
        np.testing.assert_array_equal(out_x[:, ~valid], 0.0)


def test_scale_one_crop_is_an_exact_window():
    rgb, x, label = coordinate_sample()
    config = AugmentConfig(crop_size=(20, 30), scales=(1.0,), hflip=False)
    for seed in range(20):
        params = draw_params(H, W, config, np.random.default_rng(seed))
        out_rgb, out_x, out_label = augment(rgb, x, label, config, np.random.default_rng(seed))
        window = np.s_[params.top : params.top + 20, params.left : params.left + 30]
        np.testing.assert_array_equal(out_label, label[window])
        np.testing.assert_array_equal(out_rgb, rgb[:, window[0], window[1]])
        np.testing.assert_array_equal(out_x, x[:, window[0], window[1]])


def test_flip_only_mirrors_everything():
    rgb, x, label = coordinate_sample()
    config = AugmentConfig(crop_size=None, scales=(1.0,), hflip=True)
    flips = 0
    for seed in range(40):
        out_rgb, out_x, out_label = augment(rgb, x, label, config, np.random.default_rng(seed))
        flipped = bool(out_rgb[0, 0, 0] == W - 1)
        flips += flipped
        reference = (rgb[:, :, ::-1], x[:, :, ::-1], label[:, ::-1]) if flipped else (rgb, x, label)
        for got, want in zip((out_rgb, out_x, out_label), reference):
            np.testing.assert_array_equal(got, want)
    assert 8 <= flips <= 32  # p = 0.5 over 40 draws


def test_padding_is_centred_with_0_and_255():
    rgb, x, label = coordinate_sample()
    config = AugmentConfig(crop_size=(40, 60), scales=(0.5,), hflip=False)
    out_rgb, out_x, out_label = augment(rgb, x, label, config, np.random.default_rng(0))
    # 30x44 at 0.5 -> 15x22, centred in 40x60: rows 12..26, cols 19..40.
    inside = np.zeros((40, 60), bool)
    inside[12:27, 19:41] = True
    assert ((out_label != 255) == inside).all()
    assert (out_rgb[:, ~inside] == 0).all() and (out_x[:, ~inside] == 0).all()
    assert (out_rgb[2][inside] == 7).all()


def test_labels_keep_their_values_and_dtypes():
    rng = np.random.default_rng(0)
    rgb = rng.normal(size=(3, H, W)).astype(np.float32)
    x = rng.normal(size=(1, H, W)).astype(np.float32)
    label = rng.integers(0, 9, size=(H, W)).astype(np.uint8)
    for seed in range(30):
        out_rgb, out_x, out_label = augment(rgb, x, label, AugmentConfig(crop_size=(32, 32)),
                                            np.random.default_rng(seed))
        assert out_rgb.dtype == np.float32 and out_x.dtype == np.float32 and out_label.dtype == np.uint8
        assert set(np.unique(out_label)) <= set(range(9)) | {255}  # nearest: no blended class ids


def test_draws_use_the_recipe_scales_and_are_deterministic():
    config = AugmentConfig()
    assert config.scales == RECIPE_SCALES == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    assert config.crop_size == (480, 640) and config.hflip
    drawn = {draw_params(480, 640, config, np.random.default_rng(seed)).scale for seed in range(200)}
    assert drawn == set(RECIPE_SCALES)
    rgb, x, label = coordinate_sample()
    small = AugmentConfig(crop_size=(16, 16))
    first = augment(rgb, x, label, small, np.random.default_rng(5))
    second = augment(rgb, x, label, small, np.random.default_rng(5))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_config_and_shape_errors():
    with pytest.raises(DatasetError, match="crop_size"):
        AugmentConfig(crop_size=(0, 10))
    with pytest.raises(DatasetError, match="scales"):
        AugmentConfig(scales=())
    with pytest.raises(DatasetError, match="scales"):
        AugmentConfig(scales=(1.0, -0.5))
    rgb, x, label = coordinate_sample()
    with pytest.raises(DatasetError, match="of one size"):
        augment(rgb, x[:, :20], label, AugmentConfig(), np.random.default_rng(0))


# ------------------------------------------------------------------------------------- modality dropout


def dropout_config(**rates) -> AugmentConfig:
    return AugmentConfig(crop_size=None, scales=(1.0,), hflip=False,
                         modality_dropout=ModalityDropout(PreprocessConfig(modality="thermal"), **rates))


def test_modality_dropout_degrades_one_input_at_the_configured_rates():
    rgb, x, label = coordinate_sample()
    config = dropout_config(x_rate=0.3, rgb_rate=0.2)
    neutral = neutral_x(H, W, config.modality_dropout.preprocess)
    black = blank_rgb(H, W, config.modality_dropout.preprocess)
    counts = {"x_missing": 0, "rgb_missing": 0, "intact": 0}
    trials = 4000
    for seed in range(trials):
        out_rgb, out_x, out_label = augment(rgb, x, label, config, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_label, label)  # the label never changes
        x_gone, rgb_gone = np.array_equal(out_x, neutral), np.array_equal(out_rgb, black)
        assert not (x_gone and rgb_gone)  # a sample never loses both inputs
        if x_gone:
            np.testing.assert_array_equal(out_rgb, rgb)
            counts["x_missing"] += 1
        elif rgb_gone:
            np.testing.assert_array_equal(out_x, x)
            counts["rgb_missing"] += 1
        else:
            np.testing.assert_array_equal(out_rgb, rgb)
            np.testing.assert_array_equal(out_x, x)
            counts["intact"] += 1
    # binomial standard deviation at 4000 draws is under 0.008: 0.03 is ~4 sigma
    assert counts["x_missing"] / trials == pytest.approx(0.3, abs=0.03)
    assert counts["rgb_missing"] / trials == pytest.approx(0.2, abs=0.03)


def test_modality_dropout_off_leaves_the_geometric_stream_unchanged():
    rgb, x, label = coordinate_sample()
    plain = AugmentConfig(crop_size=(24, 32), scales=RECIPE_SCALES, hflip=True)
    off = AugmentConfig(crop_size=(24, 32), scales=RECIPE_SCALES, hflip=True,
                        modality_dropout=ModalityDropout(PreprocessConfig(modality="thermal")))
    for seed in range(20):
        for a, b in zip(augment(rgb, x, label, plain, np.random.default_rng(seed)),
                        augment(rgb, x, label, off, np.random.default_rng(seed))):
            np.testing.assert_array_equal(a, b)


def test_x_shift_moves_x_by_at_most_shift_px_and_noise_changes_it():
    rgb, x, label = coordinate_sample()  # x = column index, so a shift is read off its values
    config = dropout_config(x_rate=1.0, x_kinds=["x_shift"], params=DegradationParams(shift_px=3))
    moved = 0
    for seed in range(50):
        _, out_x, _ = augment(rgb, x, label, config, np.random.default_rng(seed))
        dx = x[0, H // 2, W // 2] - out_x[0, H // 2, W // 2]
        assert abs(dx) <= 3
        moved += dx != 0
    assert moved > 0
    noisy = dropout_config(x_rate=1.0, x_kinds=["x_noise"], params=DegradationParams(noise_std=0.5))
    _, out_x, _ = augment(rgb, x, label, noisy, np.random.default_rng(0))
    assert 0.3 < float(np.std(out_x - x)) < 0.7


def test_modality_dropout_refuses_bad_rates_and_kinds():
    preprocess = PreprocessConfig(modality="thermal")
    with pytest.raises(DatasetError, match=r"x_rate \+ rgb_rate = 1\.2 must be <= 1"):
        ModalityDropout(preprocess, x_rate=0.6, rgb_rate=0.6)
    with pytest.raises(DatasetError, match=r"rgb_rate=1\.5 must be a fraction"):
        ModalityDropout(preprocess, rgb_rate=1.5)
    with pytest.raises(DatasetError, match=r"x_kinds=\['rgb_missing'\] must be a non-empty list of x_missing"):
        ModalityDropout(preprocess, x_rate=0.1, x_kinds=["rgb_missing"])
