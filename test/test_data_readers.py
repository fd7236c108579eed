# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Dataset readers on miniature native trees: pairing by stem, exact decoding, label mappings, and errors."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from data_factories import (
    SIZE,
    cityscapes_disparity,
    cityscapes_label_ids,
    generic_x,
    label_image,
    make_cityscapes_tree,
    make_fmb_tree,
    make_generic_tree,
    make_mfnet_tree,
    make_nyuv2_tree,
    make_pst900_tree,
    make_zju_tree,
    nyu_depth_m,
    rgb_image,
    save,
    thermal8,
)
from PIL import Image

from rxssnet_core.data import DATASETS, AugmentConfig, DatasetError, DatasetInfo, build_dataset
from rxssnet_core.preprocessing import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig

REPO = Path(__file__).resolve().parents[1]


def pil(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


# --- registry ---------------------------------------------------------------------------------------------------
def test_registry_entries_are_consistent():
    expected = {"mfnet": 9, "pst900": 5, "fmb": 15, "cityscapes": 19, "nyuv2": 40, "nyuv2_depth": 40,
                "zju_rgbp": 8, "synthetic_fusion": 4}
    assert set(expected) | {"generic"} == set(DATASETS)
    for name, k in expected.items():
        info = DATASETS[name]
        assert isinstance(info, DatasetInfo)
        assert info.num_classes == k == len(info.palette)
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in info.palette)
        assert len(set(map(tuple, info.palette))) == k, f"{name}: palette colours must be distinct"
        assert info.ignore_index == 255
        assert info.preprocess.modality == info.modality
        assert info.train_split in info.splits and info.val_split in (*info.splits, None)
        assert info.val_split != "test"  # models are never selected on the test split
        assert info.layout.strip()
        json.dumps(info.to_dict())
    assert DATASETS["mfnet"].palette[1] == [64, 0, 128] and DATASETS["mfnet"].native_size == (480, 640)
    assert DATASETS["cityscapes"].palette[0] == [128, 64, 128] and DATASETS["cityscapes"].modality == "disparity"
    assert DATASETS["nyuv2"].modality == "hha" and DATASETS["nyuv2_depth"].modality == "depth"
    # NYUv2/ZJU are drawn with the VOC colour of the raw id: wall (raw 1) = 128,0,0.
    assert DATASETS["nyuv2"].palette[0] == [128, 0, 0] and DATASETS["zju_rgbp"].palette[3] == [0, 0, 128]


def test_unknown_dataset_name_suggests_close_match(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset 'mfnett'.*'mfnet'"):
        build_dataset("mfnett", tmp_path, "train")
    ds = build_dataset("MFNet", make_mfnet_tree(tmp_path), "train")  # case-insensitive
    assert ds.info.name == "mfnet"


def test_missing_root_names_it_and_the_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"(?s)nope does not exist.*images/<name>\.png"):
        build_dataset("mfnet", tmp_path / "nope", "train")


# --- MFNet ------------------------------------------------------------------------------------------------------
def test_mfnet_rgba_split_into_rgb_and_thermal(tmp_path):
    root = make_mfnet_tree(tmp_path)
    ds = build_dataset("mfnet", root, "train")
    assert ds.stems == ["00001D", "00002N"] and len(ds) == 2
    raw = ds.read_raw(1)
    rgba = pil(root / "images" / "00002N.png")
    assert rgba.shape == (*SIZE, 4)
    np.testing.assert_array_equal(raw.rgb, rgba[:, :, :3])
    np.testing.assert_array_equal(raw.x, rgba[:, :, 3])
    np.testing.assert_array_equal(raw.label, label_image("00002N", 9))  # no "- 1": 0 is a class
    assert raw.rgb.dtype == np.uint8 and raw.x.dtype == np.uint8 and raw.label.dtype == np.uint8
    sample = ds[1]
    assert sample["stem"] == "00002N"
    assert sample["rgb"].shape == (3, *SIZE) and sample["x"].shape == (3, *SIZE)
    assert sample["label"].dtype.is_floating_point is False and str(sample["label"].dtype) == "torch.int64"
    expected_r = (rgba[:, :, 0] / 255.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    np.testing.assert_allclose(sample["rgb"][0].numpy(), expected_r, atol=1e-5)
    expected_t = (rgba[:, :, 3] / 255.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]
    np.testing.assert_allclose(sample["x"][2].numpy(), expected_t, atol=1e-5)


def test_mfnet_missing_files_are_all_reported_by_name(tmp_path):
    root = make_mfnet_tree(tmp_path)
    (root / "images" / "00002N.png").unlink()
    (root / "labels" / "00001D.png").unlink()
    (root / "train.txt").write_text("00001D\n00002N\n09999N\n")
    with pytest.raises(DatasetError) as error:
        build_dataset("mfnet", root, "train")
    message = str(error.value)
    assert "4 problems" in message
    for name in ("images/00002N.png", "labels/00001D.png", "images/09999N.png", "labels/09999N.png"):
        assert name in message


def test_mfnet_flip_entries_without_files_are_skipped(tmp_path):
    root = make_mfnet_tree(tmp_path)
    (root / "train.txt").write_text("00001D\n00001Dflip\n00002N.png\n")
    with pytest.warns(UserWarning, match="1 'flip' entries"):
        ds = build_dataset("mfnet", root, "train")
    assert ds.stems == ["00001D", "00002N"]


def test_mfnet_split_errors(tmp_path):
    root = make_mfnet_tree(tmp_path)
    with pytest.raises(DatasetError, match=r"test_day\.txt not found.*\['test', 'train', 'val'\]"):
        build_dataset("mfnet", root, "test_day")
    (root / "val.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match=r"split 'val' is empty: .*val\.txt"):
        build_dataset("mfnet", root, "val")
    with pytest.raises(DatasetError, match=r"found under .*ir_seg_dataset: pass that folder"):
        build_dataset("mfnet", tmp_path / "MFNet", "train")


def test_mfnet_rgb_png_without_alpha_is_explained(tmp_path):
    root = make_mfnet_tree(tmp_path)
    save(root / "images" / "00001D.png", rgb_image("00001D"))
    with pytest.raises(DatasetError, match=r"00001D\.png has 3 channel.*alpha channel"):
        build_dataset("mfnet", root, "train")[0]


def test_bad_label_values_name_file_and_values(tmp_path):
    root = make_mfnet_tree(tmp_path)
    label = label_image("00001D", 9)
    label[0, :3] = (9, 200, 9)
    save(root / "labels" / "00001D.png", label)
    ds = build_dataset("mfnet", root, "train")
    with pytest.raises(DatasetError, match=r"labels/00001D\.png has value\(s\) 9, 200 outside the 9 classes"):
        ds[0]
    with pytest.raises(DatasetError, match="1 problem"):
        ds.validate(progress=False)


def test_size_mismatch_names_files_and_sizes(tmp_path):
    root = make_mfnet_tree(tmp_path)
    save(root / "labels" / "00002N.png", label_image("00002N", 9, size=(20, 32)))
    ds = build_dataset("mfnet", root, "train")
    with pytest.raises(DatasetError, match=r"00002N: image sizes differ.*images/00002N\.png is 32x24.*"
                                           r"labels/00002N\.png is 32x20"):
        ds.read_raw(1)


def test_corrupt_and_16bit_images_are_named(tmp_path):
    root = make_mfnet_tree(tmp_path)
    (root / "images" / "00001D.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ds = build_dataset("mfnet", root, "train")
    with pytest.raises(DatasetError, match=r"images/00001D\.png is corrupt"):
        ds[0]
    full = (root / "labels" / "00002N.png").read_bytes()
    (root / "labels" / "00002N.png").write_bytes(full[: len(full) // 2])  # truncated download
    with pytest.raises(DatasetError, match=r"labels/00002N\.png is corrupt"):
        ds.read_raw(1)
    with pytest.raises(DatasetError, match="2 problems") as error:
        ds.validate(progress=False)
    assert "00001D" in str(error.value) and "00002N" in str(error.value)


# --- PST900 -----------------------------------------------------------------------------------------------------
def test_pst900_folders_without_split_files(tmp_path):
    root = make_pst900_tree(tmp_path)
    train = build_dataset("pst900", root, "train")
    assert train.stems == ["31_bag1a_rect_rgb_frame0000000007", "31_bag1a_rect_rgb_frame0000000008"]
    raw = train.read_raw(0)
    np.testing.assert_array_equal(raw.rgb, rgb_image(train.stems[0]))
    np.testing.assert_array_equal(raw.x, thermal8(train.stems[0], holes=True))
    assert (raw.x[:, :3] == 0).all()
    np.testing.assert_array_equal(raw.label, label_image(train.stems[0], 5))
    assert len(build_dataset("pst900", root, "test")) == 1
    raw16 = build_dataset("pst900", root, "train", options={"thermal": "raw"}).read_raw(0)
    assert raw16.x.dtype == np.uint16
    np.testing.assert_array_equal(raw16.x, pil(root / "train" / "thermal_raw" / f"{train.stems[0]}.png"))
    with pytest.raises(DatasetError, match=r"no split 'val'.*\['test', 'train'\].*trains on 'train'"):
        build_dataset("pst900", root, "val")
    with pytest.raises(DatasetError, match=r"option thermal='16bit' must be one of \['8bit', 'raw'\]"):
        build_dataset("pst900", root, "train", options={"thermal": "16bit"})


def test_pst900_unpaired_files_are_reported(tmp_path):
    root = make_pst900_tree(tmp_path)
    stem = "31_bag1a_rect_rgb_frame0000000008"
    (root / "train" / "thermal" / f"{stem}.png").unlink()
    save(root / "train" / "labels" / "orphan.png", label_image("orphan", 5))
    with pytest.raises(DatasetError) as error:
        build_dataset("pst900", root, "train")
    message = str(error.value)
    assert f"{stem}: no X file in {root / 'train' / 'thermal'}" in message
    assert f"orphan: no RGB file in {root / 'train' / 'rgb'}" in message
    assert f"orphan: no X file in {root / 'train' / 'thermal'}" in message


def test_pst900_16bit_in_8bit_folder_is_an_error(tmp_path):
    root = make_pst900_tree(tmp_path)
    stem = "32_bag2_rect_rgb_frame0000000100"
    save(root / "test" / "thermal" / f"{stem}.png", np.full(SIZE, 300, np.uint16))
    with pytest.raises(DatasetError, match=r"thermal/32_bag2.*is uint16; uint8 is required"):
        build_dataset("pst900", root, "test")[0]


# --- FMB --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_fmb_reader(tmp_path, channels):
    root = make_fmb_tree(tmp_path, infrared_channels=channels)
    ds = build_dataset("fmb", root, "train")
    raw = ds.read_raw(0)
    assert ds.stems == ["00001"] and raw.x.shape == SIZE
    np.testing.assert_array_equal(raw.x, thermal8("00001"))
    label = label_image("00001", 15, extra=(255, 255))
    np.testing.assert_array_equal(raw.label, label)
    assert (ds[0]["label"].numpy() == 255).sum() == 2
    assert build_dataset("fmb", root, "test").stems == ["00002"]


def test_fmb_rgba_visible_is_accepted(tmp_path):
    root = make_fmb_tree(tmp_path)
    rgba = np.dstack([rgb_image("00001"), np.full(SIZE, 255, np.uint8)])
    save(root / "train" / "Visible" / "00001.png", rgba)
    np.testing.assert_array_equal(build_dataset("fmb", root, "train").read_raw(0).rgb, rgb_image("00001"))


# --- Cityscapes -------------------------------------------------------------------------------------------------
def test_cityscapes_label_ids_to_train_ids_and_disparity(tmp_path):
    root = make_cityscapes_tree(tmp_path)
    ds = build_dataset("cityscapes", root, "val")
    assert ds.stems == ["frankfurt_000000_000294", "lindau_000001_000019"]
    raw = ds.read_raw(0)
    ids = cityscapes_label_ids(ds.stems[0], SIZE)
    expected = np.full(SIZE, 255, np.uint8)
    for label_id, train_id in {7: 0, 8: 1, 11: 2, 26: 13, 33: 18, 24: 11}.items():
        expected[ids == label_id] = train_id
    checked = np.isin(ids, [0, 4, 14, 7, 8, 11, 26, 33, 24])
    np.testing.assert_array_equal(raw.label[checked], expected[checked])
    assert set(np.unique(raw.label)) == set(range(19)) | {255}
    assert raw.x.dtype == np.uint16
    np.testing.assert_array_equal(raw.x, cityscapes_disparity(ds.stems[0], SIZE))
    x = ds[0]["x"].numpy()[0]  # disparity p -> (p - 1) / 256 / 128, p = 0 invalid -> 0, then normalised
    unit = np.array([0.0, 0.0, 1.0 / 128.0])
    np.testing.assert_allclose(x.reshape(-1)[:3], (unit - IMAGENET_MEAN[0]) / IMAGENET_STD[0], atol=1e-5)
    assert len(build_dataset("cityscapes", root, "train")) == 1


def test_cityscapes_unlabelled_split_and_errors(tmp_path):
    root = make_cityscapes_tree(tmp_path, with_test=True)
    test = build_dataset("cityscapes", root, "test")
    assert test.read_raw(0).label is None
    assert (test[0]["label"].numpy() == 255).all()
    with pytest.raises(DatasetError, match=r"no split 'valid'.*\['test', 'train', 'val'\]"):
        build_dataset("cityscapes", root, "valid")
    stem = "lindau_000001_000019"
    (root / "disparity" / "val" / "lindau" / f"{stem}_disparity.png").unlink()
    with pytest.raises(DatasetError, match=rf"{stem}: no .*{stem}_disparity\.png"):
        build_dataset("cityscapes", root, "val")
    save(root / "disparity" / "val" / "lindau" / f"{stem}_disparity.png", np.zeros(SIZE, np.uint8))
    with pytest.raises(DatasetError, match=r"_disparity\.png is uint8; uint16 is required"):
        build_dataset("cityscapes", root, "val")[1]
    save(root / "disparity" / "val" / "lindau" / f"{stem}_disparity.png", cityscapes_disparity(stem, SIZE))
    save(root / "gtFine" / "val" / "lindau" / f"{stem}_gtFine_labelIds.png", np.full(SIZE, 40, np.uint8))
    with pytest.raises(DatasetError, match=r"label id\(s\) 40 outside 0\.\.33"):
        build_dataset("cityscapes", root, "val").read_raw(1)


# --- NYUv2 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["sagate", "cmx", "dformer"])
def test_nyuv2_split_line_forms_and_label_shift(tmp_path, flavour):
    root = make_nyuv2_tree(tmp_path, flavour=flavour)
    assert build_dataset("nyuv2", root, "train").stems == ["2"]
    ds = build_dataset("nyuv2", root, "test")
    assert ds.stems == ["0", "1"]
    raw = ds.read_raw(1)
    raw_ids = label_image("1", 41)
    expected = np.where(raw_ids == 0, 255, raw_ids.astype(np.int64) - 1)
    np.testing.assert_array_equal(raw.label, expected)  # 0 -> 255, 40 -> 39
    assert raw.label.max() == 255 and 39 in raw.label and raw.x.shape == (*SIZE, 3) and raw.x.dtype == np.uint8
    # JPEG: compare with Pillow's decode (decoders may differ by a grey level).
    assert np.abs(raw.rgb.astype(int) - pil(root / "RGB" / "1.jpg").astype(int)).max() <= 2
    depth = build_dataset("nyuv2_depth", root, "test").read_raw(0)
    if flavour == "dformer":
        assert depth.x.dtype == np.uint8 and depth.x.shape == SIZE
        np.testing.assert_array_equal(depth.x, pil(root / "Depth" / "0.png")[:, :, 0])
    else:
        assert depth.x.dtype == np.float32
        np.testing.assert_array_equal(depth.x, nyu_depth_m("0", SIZE))


def test_nyuv2_raw_label_out_of_range(tmp_path):
    root = make_nyuv2_tree(tmp_path)
    save(root / "Label" / "2.png", np.full(SIZE, 41, np.uint8))
    with pytest.raises(DatasetError, match=r"Label/2\.png has value\(s\) 41 .*raw NYUv2 ids"):
        build_dataset("nyuv2", root, "train")[0]


# --- ZJU-RGB-P --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label_mode", ["P", "L", "RGB", "BGR"])
def test_zju_label_encodings_decode_to_the_same_ids(tmp_path, label_mode):
    root = make_zju_tree(tmp_path, label_mode=label_mode)
    ds = build_dataset("zju_rgbp", root, "train")
    assert ds.stems == ["frameA_image0"]
    raw_ids = label_image("frameA_image0", 9)
    np.testing.assert_array_equal(ds.read_raw(0).label, np.where(raw_ids == 0, 255, raw_ids.astype(int) - 1))


def test_zju_polarization_from_angles(tmp_path):
    root = make_zju_tree(tmp_path, label_dir="{split}_label", grey=True)
    images = {a: pil(root / "val" / a / f"frameB_image0_{a}.png").astype(np.float64) for a in ("0", "45", "90", "135")}
    s1, s2 = images["0"] - images["90"], images["45"] - images["135"]
    s0 = (images["0"] + images["45"] + images["90"] + images["135"]) / 2
    aolp = np.mod(0.5 * np.arctan2(s2, s1), np.pi)
    dolp = np.clip(np.sqrt(s1**2 + s2**2) / s0, 0, 1)
    mono = build_dataset("zju_rgbp", root, "val").read_raw(0)
    np.testing.assert_array_equal(mono.rgb, images["0"].astype(np.uint8))
    assert mono.x.shape == SIZE and mono.x.dtype == np.float32
    np.testing.assert_allclose(mono.x, aolp[:, :, 0], atol=1e-4)
    tri = build_dataset("zju_rgbp", root, "val", preprocess=PreprocessConfig(
        modality="polarization", polarization_channel="dolp"), options={"trichromatic": True}).read_raw(0)
    assert tri.x.shape == (*SIZE, 3)
    np.testing.assert_allclose(tri.x, dolp, atol=1e-5)


def test_zju_unpaired_angle_image(tmp_path):
    root = make_zju_tree(tmp_path)
    (root / "train" / "45" / "frameA_image0_45.png").unlink()
    with pytest.raises(DatasetError, match=r"frameA_image0: no 45 file in .*train/45"):
        build_dataset("zju_rgbp", root, "train")


# --- generic ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_format,dtype", [("png8", np.uint8), ("png16", np.uint16), ("tiff", np.float32),
                                             ("npy", np.float32)])
def test_generic_x_formats(tmp_path, x_format, dtype):
    root = make_generic_tree(tmp_path, x_format=x_format,
                             modality="thermal" if x_format.startswith("png") else "depth")
    ds = build_dataset("generic", root, "train")
    assert ds.stems == ["a", "b", "c"] and ds.info.name == "mine"
    assert ds.info.class_names == ["cls0", "cls1", "cls2"] and ds.info.palette[2] == [20, 40, 60]
    raw = ds.read_raw(2)
    assert raw.x.dtype == dtype
    np.testing.assert_array_equal(raw.x, generic_x("c", SIZE, x_format))
    np.testing.assert_array_equal(raw.label, label_image("c", 3, extra=(255,)))
    assert ds[0]["x"].shape == (3, *SIZE)
    assert build_dataset("generic", root, "val").stems == ["d"]


def test_generic_without_yaml_root_split_files_and_all(tmp_path):
    root = make_generic_tree(tmp_path, split_style="root", with_yaml=False, num_classes=4)
    ds = build_dataset("generic", root, "train")
    assert ds.info.class_names == ["class_0", "class_1", "class_2", "class_3"] and ds.info.modality == "thermal"
    (root / "train.txt").unlink()
    (root / "val.txt").unlink()
    assert build_dataset("generic", root, "all").stems == ["a", "b", "c", "d"]
    with pytest.raises(DatasetError, match=r"no split file for split 'train'.*splits/train\.txt"):
        build_dataset("generic", root, "train")


def test_generic_unpaired_files_all_reported(tmp_path):
    root = make_generic_tree(tmp_path)
    (root / "x" / "a.png").unlink()          # RGB without X
    (root / "labels" / "b.png").unlink()     # X without label
    (root / "rgb" / "c.png").unlink()        # X and label without RGB
    with pytest.raises(DatasetError) as error:
        build_dataset("generic", root, "train")
    message = str(error.value)
    assert "3 problems" in message
    assert f"a: listed in train.txt but no X file {root / 'x' / 'a'}.*" in message
    assert f"b: listed in train.txt but no label file {root / 'labels' / 'b'}.*" in message
    assert f"c: listed in train.txt but no RGB file {root / 'rgb' / 'c'}.*" in message


def test_generic_all_split_reports_orphans(tmp_path):
    root = make_generic_tree(tmp_path, split_style="none")
    save(root / "x" / "zz.png", np.zeros(SIZE, np.uint8))
    with pytest.raises(DatasetError, match="zz: present but no RGB file"):
        build_dataset("generic", root, "all")


def test_generic_ambiguous_and_non_png_label(tmp_path):
    root = make_generic_tree(tmp_path)
    save(root / "rgb" / "a.jpg", rgb_image("a"))
    (root / "labels" / "b.png").rename(root / "labels" / "b.jpg")
    with pytest.raises(DatasetError) as error:
        build_dataset("generic", root, "train")
    assert "ambiguous files for stem 'a': a.jpg and a.png" in str(error.value)
    assert "label" in str(error.value) and "b.jpg is not a PNG" in str(error.value)


def test_generic_unlabelled_folder(tmp_path):
    root = make_generic_tree(tmp_path, with_labels=False)
    ds = build_dataset("generic", root, "val")
    assert ds.read_raw(0).label is None and (ds[0]["label"].numpy() == 255).all()


def test_generic_yaml_errors_and_ignore_remap(tmp_path):
    root = make_generic_tree(tmp_path)
    yaml_path = root / "dataset.yaml"
    yaml_path.write_text("class_names: [a, b, c]\ncolours: [1]\n")
    with pytest.raises(DatasetError, match=r"dataset\.yaml: unknown key\(s\) \['colours'\]"):
        build_dataset("generic", root, "train")
    yaml_path.write_text("class_names: [a, b, c]\nmodality: sonar\n")
    with pytest.raises(DatasetError, match="modality 'sonar' is unknown"):
        build_dataset("generic", root, "train")
    yaml_path.write_text("class_names: [a, b, c]\npalette: [[0, 0, 0]]\n")
    with pytest.raises(DatasetError, match="palette has 1 colours but class_names has 3"):
        build_dataset("generic", root, "train")
    yaml_path.write_text("class_names: [a, b, c]\nignore_index: 200\n")
    label = label_image("a", 3)
    label[0, 0] = 200
    save(root / "labels" / "a.png", label)
    raw = build_dataset("generic", root, "train").read_raw(0)
    assert raw.label[0, 0] == 255 and raw.label.max() == 255 and set(np.unique(raw.label)) == {0, 1, 2, 255}


def test_generic_colour_labels_with_palette(tmp_path):
    root = make_generic_tree(tmp_path)
    palette = np.array([[0, 0, 0], [10, 20, 30], [20, 40, 60]], np.uint8)
    label = label_image("a", 3)
    save(root / "labels" / "a.png", palette[label])
    np.testing.assert_array_equal(build_dataset("generic", root, "train").read_raw(0).label, label)
    colours = palette[label]
    colours[0, 0] = (1, 2, 3)
    save(root / "labels" / "a.png", colours)
    with pytest.raises(DatasetError, match=r"a\.png: 1 pixels have colours that are not in the palette.*\(1, 2, 3\)"):
        build_dataset("generic", root, "train").read_raw(0)


def test_generic_bad_rgb_bit_depth_and_channels(tmp_path):
    root = make_generic_tree(tmp_path)
    save(root / "rgb" / "a.png", np.zeros(SIZE, np.uint16))
    ds = build_dataset("generic", root, "train")
    with pytest.raises(DatasetError, match=r"rgb/a\.png is uint16 \(16-bit\); RGB images must be 8 bits"):
        ds[0]
    save(root / "rgb" / "b.png", np.zeros(SIZE, np.uint8))
    with pytest.raises(DatasetError, match=r"rgb/b\.png has 1 channel\(s\); expected a colour image"):
        ds[1]


def test_preprocess_modality_must_match_dataset(tmp_path):
    root = make_mfnet_tree(tmp_path)
    with pytest.raises(DatasetError, match=r"preprocess\.modality='depth' does not match dataset 'mfnet'"):
        build_dataset("mfnet", root, "train", preprocess=PreprocessConfig(modality="depth"))
    ds = build_dataset("mfnet", root, "train", preprocess={"modality": "thermal", "x_channels": 1,
                                                             "channel_order": "bgr"})
    sample = ds[0]
    assert sample["x"].shape == (1, *SIZE)
    rgb = rgb_image("00001D")
    np.testing.assert_allclose(sample["rgb"][0].numpy(), (rgb[:, :, 2] / 255 - 0.485) / 0.229, atol=1e-5)


def test_dataset_with_augmentation_and_dataloader(tmp_path):
    import torch

    root = make_mfnet_tree(tmp_path)
    ds = build_dataset("mfnet", root, "train", augment=AugmentConfig(crop_size=(16, 40)))
    torch.manual_seed(3)
    first = [ds[i] for i in range(2)]
    torch.manual_seed(3)
    again = [ds[i] for i in range(2)]
    for a, b in zip(first, again):
        assert a["rgb"].shape == (3, 16, 40) and a["label"].shape == (16, 40)
        assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["label"], b["label"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)))
    assert batch["rgb"].shape == (2, 3, 16, 40) and batch["stem"] == ["00001D", "00002N"]
    # DataLoader workers receive a pickled copy (spawn start method): it must read the same files.
    copy = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(copy.read_raw(1).x, ds.read_raw(1).x)


# --- CLI --------------------------------------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from rxssnet_core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_cli_lists_and_describes_datasets(tmp_path):
    from rxssnet_core.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        listing = run_cli("datasets")
    assert listing.returncode == 0, listing.stderr
    for name in DATASETS:
        assert name in listing.stdout
    as_json = json.loads(run_cli("datasets", "--json").stdout)
    assert {d["name"] for d in as_json} == set(DATASETS)
    detail = run_cli("datasets", "cityscapes")
    assert "traffic light" in detail.stdout and "leftImg8bit/<split>/<city>" in detail.stdout
    one = json.loads(run_cli("datasets", "mfnet", "--json").stdout)
    assert one["class_names"][8] == "bump" and one["preprocess"]["modality"] == "thermal"
    assert "--generate" in run_cli("datasets", "--help").stdout
    bad = run_cli("datasets", "nyu2")
    assert bad.returncode == 2 and "unknown dataset 'nyu2'" in bad.stderr
    # Checking a folder in-process (fast): counts and problems.
    root = make_mfnet_tree(tmp_path)
    code = main(["datasets", "mfnet", "--root", str(root), "--split", "train", "--check"])
    assert code == 0
    (root / "labels" / "00001D.png").unlink()
    code = main(["datasets", "mfnet", "--root", str(root), "--split", "train"])
    assert code == 2
