"""Augmentation: one random state for RGB, X and label; pixel-exact alignment under flip, scale and crop."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.data import AugmentConfig, DatasetError
from rxssnet_core.data.augmentation import RECIPE_SCALES, augment, draw_params

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
