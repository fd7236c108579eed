# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Modality preprocessing: exact values per modality, invalid measurements, channel handling, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from rxssnet_core.preprocessing import (
    GREY_MEAN,
    GREY_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreprocessConfig,
    PreprocessError,
    neutral_x,
    normalize_rgb,
    normalize_x,
    polarization_from_angles,
    preprocess_pair,
    x_to_unit,
)

MEAN = np.array(IMAGENET_MEAN, np.float64)
STD = np.array(IMAGENET_STD, np.float64)


def unit(x: np.ndarray, **config) -> np.ndarray:
    return x_to_unit(x, PreprocessConfig(**config))[:, :, 0]


def row(values, dtype) -> np.ndarray:
    return np.array([values], dtype=dtype)


# --- RGB --------------------------------------------------------------------------------------------------------
def test_rgb_normalisation_and_channel_order():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 51, 0
    out = normalize_rgb(rgb, PreprocessConfig())
    assert out.shape == (3, 2, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out[:, 0, 0], (np.array([1.0, 0.2, 0.0]) - MEAN) / STD, rtol=1e-6)
    bgr = normalize_rgb(rgb, PreprocessConfig(channel_order="bgr"))
    # Reversed channels, still normalised with the RGB-ordered statistics (what the reference checkpoints saw).
    np.testing.assert_allclose(bgr[:, 0, 0], (np.array([0.0, 0.2, 1.0]) - MEAN) / STD, rtol=1e-6)


# --- thermal ----------------------------------------------------------------------------------------------------
def test_thermal_8bit_is_divided_by_255_and_replicated():
    x = row([0, 51, 255], np.uint8)
    np.testing.assert_allclose(unit(x), [[0.0, 0.2, 1.0]], rtol=1e-6)
    out = normalize_x(x, PreprocessConfig())
    assert out.shape == (3, 1, 3)
    for channel in range(3):
        np.testing.assert_allclose(out[channel, 0], (np.array([0.0, 0.2, 1.0]) - MEAN[channel]) / STD[channel],
                                   rtol=1e-6)
    grey = normalize_x(x, PreprocessConfig(x_channels=1))
    assert grey.shape == (1, 1, 3)
    np.testing.assert_allclose(grey[0, 0], (np.array([0.0, 0.2, 1.0]) - GREY_MEAN[0]) / GREY_STD[0], rtol=1e-6)


def test_thermal_fixed_range_and_percentile_stretch():
    raw = row([100, 200, 300, 50, 400], np.uint16)
    np.testing.assert_allclose(unit(raw, thermal_range=(100, 300)), [[0.0, 0.5, 1.0, 0.0, 1.0]], atol=1e-7)
    # Per-frame 0.5-99.5 percentile stretch: one dead hot pixel must not squash the image.
    frame = np.linspace(1000, 2000, 1000).astype(np.uint16).reshape(20, 50)
    frame[0, 0] = 65535
    low, high = np.percentile(frame, (0.5, 99.5))
    out = unit(frame)
    np.testing.assert_allclose(out, np.clip((frame - low) / (high - low), 0, 1), atol=1e-6)
    assert out[0, 0] == 1.0 and out[10, 10] > 0.4
    celsius = np.linspace(-20, 40, 200, dtype=np.float32).reshape(10, 20)
    celsius[1, 1], celsius[2, 2] = np.nan, np.inf
    got = unit(celsius, thermal_range=(-20, 40))
    assert got[1, 1] == 0.0 and got[2, 2] == 0.0  # no measurement -> 0, even where 0 degC is mid-range
    np.testing.assert_allclose(got[5, 5], (celsius[5, 5] + 20) / 60, rtol=1e-6)
    assert np.isfinite(unit(celsius)).all() and unit(celsius)[1, 1] == 0.0


# --- depth ------------------------------------------------------------------------------------------------------
def test_depth_millimetres_metres_and_invalid():
    mm = row([0, 1000, 5000, 20000], np.uint16)
    np.testing.assert_allclose(unit(mm, modality="depth"), [[0.0, 0.1, 0.5, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(unit(mm, modality="depth", depth_max_m=5.0), [[0.0, 0.2, 1.0, 1.0]], rtol=1e-6)
    metres = row([np.nan, -1.0, 0.0, 2.5, np.inf, 12.0], np.float32)
    with np.errstate(all="raise"):
        got = unit(metres, modality="depth")
    np.testing.assert_allclose(got, [[0.0, 0.0, 0.0, 0.25, 0.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(unit(row([0, 2500], np.uint16), modality="depth", depth_scale_m=0.0001),
                               [[0.0, 0.025]], rtol=1e-6)
    # 8-bit depth files are already-normalised renderings (DFormer): /255, never scaled as millimetres.
    np.testing.assert_allclose(unit(row([0, 51, 255], np.uint8), modality="depth"), [[0.0, 0.2, 1.0]], rtol=1e-6)


def test_cityscapes_disparity_decoding():
    # p = 0 invalid; d = (p - 1) / 256 pixels; d mapped by disparity_max (128).
    p = row([0, 1, 257, 256 * 64 + 1, 256 * 200 + 1], np.uint16)
    np.testing.assert_allclose(unit(p, modality="disparity"), [[0.0, 0.0, 1 / 128, 0.5, 1.0]], rtol=1e-6)
    floats = row([np.nan, 0.0, 64.0, -3.0], np.float32)
    np.testing.assert_allclose(unit(floats, modality="disparity"), [[0.0, 0.0, 0.5, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(unit(p, modality="disparity", disparity_max=64.0)[0, 3], 1.0)


# --- HHA --------------------------------------------------------------------------------------------------------
def test_hha_is_three_channel_8bit():
    hha = np.zeros((1, 1, 3), np.uint8)
    hha[0, 0] = (255, 51, 0)
    out = normalize_x(hha, PreprocessConfig(modality="hha"))
    np.testing.assert_allclose(out[:, 0, 0], (np.array([1.0, 0.2, 0.0]) - MEAN) / STD, rtol=1e-6)
    reversed_ = normalize_x(hha, PreprocessConfig(modality="hha", channel_order="bgr"))
    np.testing.assert_allclose(reversed_[:, 0, 0], (np.array([0.0, 0.2, 1.0]) - MEAN) / STD, rtol=1e-6)
    averaged = normalize_x(hha, PreprocessConfig(modality="hha", x_channels=1))
    np.testing.assert_allclose(averaged[0, 0, 0], (0.4 - GREY_MEAN[0]) / GREY_STD[0], rtol=1e-6)
    with pytest.raises(PreprocessError, match="HHA X image must be uint8, got uint16"):
        x_to_unit(hha.astype(np.uint16), PreprocessConfig(modality="hha"))


# --- polarization -----------------------------------------------------------------------------------------------
def test_polarization_aolp_dolp_scaling():
    aolp = row([0.0, np.pi / 2, np.pi, np.nan], np.float32)
    np.testing.assert_allclose(unit(aolp, modality="polarization"), [[0.0, 0.5, 1.0, 0.0]], atol=1e-6)
    tri = np.stack([aolp[0], aolp[0], aolp[0]], axis=1)[None]  # trichromatic AoLP is scaled the same way
    np.testing.assert_allclose(x_to_unit(tri, PreprocessConfig(modality="polarization"))[0, :, 1],
                               [0.0, 0.5, 1.0, 0.0], atol=1e-6)
    dolp = row([0.0, 0.25, 1.5, -0.1], np.float32)
    np.testing.assert_allclose(unit(dolp, modality="polarization", polarization_channel="dolp"),
                               [[0.0, 0.25, 1.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(unit(row([0, 255], np.uint8), modality="polarization"), [[0.0, 1.0]])


def test_polarization_from_angles_recovers_angle_and_degree():
    phi = np.array([[0.1, 0.7, 1.5, 2.9]], np.float64)
    degree = np.array([[0.0, 0.3, 0.6, 1.0]], np.float64)
    s0 = 200.0
    images = [0.5 * s0 * (1 + degree * np.cos(2 * (phi - np.deg2rad(a)))) for a in (0, 45, 90, 135)]
    aolp, dolp = polarization_from_angles(*images)
    assert aolp.dtype == np.float32 and dolp.dtype == np.float32
    np.testing.assert_allclose(dolp, degree, atol=1e-5)
    np.testing.assert_allclose(aolp[0, 1:], phi[0, 1:], atol=1e-5)  # AoLP undefined at DoLP 0
    assert aolp.min() >= 0.0 and aolp.max() <= np.pi
    with pytest.raises(PreprocessError, match="differ in shape"):
        polarization_from_angles(images[0], images[1], images[2], images[3][:, :2])


# --- pair, neutral X, config ------------------------------------------------------------------------------------
def test_preprocess_pair_and_neutral_x():
    rgb = np.full((4, 6, 3), 128, np.uint8)
    x = np.full((4, 6), 1000, np.uint16)
    rgb_chw, x_chw = preprocess_pair(rgb, x, PreprocessConfig(modality="depth", x_channels=1))
    assert rgb_chw.shape == (3, 4, 6) and x_chw.shape == (1, 4, 6)
    assert rgb_chw.dtype == x_chw.dtype == np.float32
    np.testing.assert_allclose(x_chw, (0.1 - GREY_MEAN[0]) / GREY_STD[0], rtol=1e-6)
    with pytest.raises(PreprocessError, match=r"RGB image is 6x4 but X image is 5x4 \(WxH\)"):
        preprocess_pair(rgb, x[:, :5], PreprocessConfig())
    neutral = neutral_x(4, 6, PreprocessConfig())
    assert neutral.shape == (3, 4, 6) and not neutral.any()


@pytest.mark.parametrize("array,match", [
    (np.zeros((4, 4, 3), np.uint16), "RGB image must be uint8"),
    (np.zeros((4, 4), np.uint8), r"RGB image must be \(H, W, 3\)"),
    (np.zeros((0, 4, 3), np.uint8), "H, W > 0"),
    ([[1, 2]], "must be a numpy array"),
])
def test_rgb_errors(array, match):
    with pytest.raises(PreprocessError, match=match):
        normalize_rgb(array, PreprocessConfig())


@pytest.mark.parametrize("array,match", [
    (np.zeros((4, 4, 4), np.uint8), "1 or 3 channels"),
    (np.zeros((4, 4), np.int32), "dtype int32 is unsupported"),
    (np.zeros((4,), np.uint8), r"\(H, W\) or \(H, W, C\)"),
])
def test_x_errors(array, match):
    with pytest.raises(PreprocessError, match=match):
        normalize_x(array, PreprocessConfig())


@pytest.mark.parametrize("kwargs,match", [
    ({"modality": "lidar"}, "preprocess.modality='lidar' is unknown"),
    ({"channel_order": "rbg"}, "preprocess.channel_order='rbg'"),
    ({"x_channels": 2}, "preprocess.x_channels=2"),
    ({"thermal_range": (5, 5)}, "needs high > low"),
    ({"depth_max_m": 0}, "preprocess.depth_max_m=0 must be > 0"),
    ({"polarization_channel": "s0"}, "polarization_channel='s0'"),
])
def test_config_errors_name_the_key(kwargs, match):
    with pytest.raises(PreprocessError, match=match):
        PreprocessConfig(**kwargs)


def test_config_round_trip():
    config = PreprocessConfig(modality="thermal", thermal_range=(10, 20), channel_order="bgr")
    data = config.to_dict()
    assert data["thermal_range"] == [10.0, 20.0]
    assert PreprocessConfig.from_dict(data) == config
    with pytest.raises(PreprocessError, match=r"unknown preprocess key\(s\) \['mean'\]"):
        PreprocessConfig.from_dict({"mean": 0.5})
