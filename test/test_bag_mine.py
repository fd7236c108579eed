# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag mine`: the pairs worth labelling, from raw, compressed and ROS 1 bags, as a trainable dataset with
pre-labels, CVAT "Segmentation mask 1.1" files, a score CSV and a contact sheet.

The bag of test_bag_eval (6 synthetic scenes, raw topics, 5 ms X jitter) and the ROS 1 bag of test_bag_ros1 (raw
RGB, PNG-compressed thermal) are mined with a random atto model; the CVAT files are checked against the format's
rules (docs.cvat.ai, "Segmentation Mask": labelmap.txt lines `label:r,g,b:parts:actions`, unique colours;
ImageSets/Segmentation/default.txt: image names without extension; SegmentationClass/<name>.png: 1- or
3-channel PNG whose every colour is a label map colour).
"""

from __future__ import annotations

import csv
import hashlib
import re
import shlex
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image
from test_bag_eval import REPO, build_offline_case, write_robot_recording
from test_bag_ros1 import _frames, write_ros1_bag

from rxssnet_core import Segmenter
from rxssnet_core.data import build_dataset
from rxssnet_core.data.synthetic import generate_fusion_dataset
from rxssnet_core.labelling_score import score_frame
from rxssnet_core.models.checkpoints import load_checkpoint
from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.mining import MineConfig, mine_bag
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig
from rxssnet_ros.cli import main as rxssnet_main

pytestmark = pytest.mark.slow
LABELMAP_LINE = re.compile(r"^([^:\n]+):(\d{1,3}),(\d{1,3}),(\d{1,3}):([^:]*):([^:]*)$")


@pytest.fixture(scope="module")
def mined(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    case = build_offline_case(tmp_path_factory.getbasetemp() / "bag_eval_case")
    out = tmp_path_factory.mktemp("mine") / "to_label"
    assert rxssnet_main(["bag", "mine", case["bag"], "--checkpoint", case["checkpoint"], "--budget", "3",
                         "--out", str(out), "--min-gap", "0.15"]) == 0
    return {**case, "out": out}


def check_cvat_segmentation_mask_layout(folder: Path, images: list[str]) -> dict[str, tuple[int, int, int]]:
    """The rules of CVAT's "Segmentation mask 1.1" import; returns the label map (name -> colour)."""
    lines = (folder / "labelmap.txt").read_text(encoding="utf-8").splitlines()
    labelmap = {}
    for line in lines:
        if line.startswith("#"):
            continue
        match = LABELMAP_LINE.match(line)
        assert match, f"labelmap line {line!r} is not label:r,g,b:parts:actions"
        colour = tuple(int(v) for v in match.group(2, 3, 4))
        assert all(0 <= v <= 255 for v in colour)
        labelmap[match.group(1)] = colour
    assert len(set(labelmap.values())) == len(labelmap), "two labels share a colour"
    listed = (folder / "ImageSets" / "Segmentation" / "default.txt").read_text(encoding="utf-8").split()
    assert listed == images and all("." not in name for name in listed)
    masks = sorted(p.stem for p in (folder / "SegmentationClass").glob("*"))
    assert masks == sorted(images) and all(p.suffix == ".png" for p in (folder / "SegmentationClass").iterdir())
    colours = set(labelmap.values())
    for name in listed:
        image = Image.open(folder / "SegmentationClass" / f"{name}.png")
        assert image.mode in ("P", "L", "RGB")
        rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert {tuple(int(v) for v in c) for c in np.unique(rgb, axis=0)} <= colours
    return labelmap


def test_mined_set_is_a_generic_dataset_with_the_models_pre_labels(mined: dict[str, Any]) -> None:
    out = mined["out"]
    segmenter = Segmenter.from_checkpoint(mined["checkpoint"])
    meta = yaml.safe_load((out / "dataset.yaml").read_text())
    assert meta["class_names"] == list(segmenter.class_names)
    assert meta["palette"] == segmenter.metadata["palette"]
    dataset = build_dataset("generic", out, "train", preprocess=None, augment=None)
    assert len(dataset) == 3
    assert dataset.preprocess.to_dict() == segmenter.preprocess_config.to_dict()
    for index in range(len(dataset)):
        sample = dataset.read_raw(index)
        result = segmenter.segment(sample.rgb, sample.x, return_confidence=True)
        np.testing.assert_array_equal(sample.label, result.labels)


def test_scores_csv_has_every_pair_and_the_picks_follow_the_score(mined: dict[str, Any]) -> None:
    out = mined["out"]
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == 6  # every pair of the bag
    picks = sorted((int(r["pick_rank"]), r) for r in rows if r["pick_rank"])
    assert [rank for rank, _ in picks] == [1, 2, 3]
    assert sorted(f"t{r['rgb_stamp_ns']}" for _, r in picks) == sorted(p.stem for p in (out / "rgb").glob("*.png"))
    picked = [float(r["score"]) for _, r in picks]
    assert picked == sorted(picked, reverse=True)
    stamps = sorted(int(r["rgb_stamp_ns"]) for _, r in picks)
    assert min(np.diff(stamps)) >= 150_000_000  # --min-gap 0.15 at 10 Hz: never two neighbours
    # the CSV's score is score_frame of that pair (the node's live score)
    segmenter = Segmenter.from_checkpoint(mined["checkpoint"])
    sample = build_dataset("generic", out, "train", preprocess=None, augment=None).read_raw(0)
    result = segmenter.segment(sample.rgb, sample.x, return_confidence=True)
    row = next(r for _, r in picks if f"t{r['rgb_stamp_ns']}" == sample.stem)
    assert float(row["score"]) == pytest.approx(
        score_frame(segmenter, sample.rgb, result.labels, result.confidence).score, abs=1e-6)
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.shape[1] == 3 * 200 and sheet.shape[0] == 3 * (22 + 160)  # 3 rows of RGB | X | pre-label


def test_cvat_files_follow_the_segmentation_mask_format(mined: dict[str, Any]) -> None:
    out = mined["out"]
    stems = (out / "splits" / "train.txt").read_text().split()
    labelmap = check_cvat_segmentation_mask_layout(out / "cvat", stems)
    meta = yaml.safe_load((out / "dataset.yaml").read_text())
    assert list(labelmap) == meta["class_names"]
    for stem in stems:  # the mask colour of each pixel is its pre-label's class colour
        mask = np.asarray(Image.open(out / "cvat" / "SegmentationClass" / f"{stem}.png").convert("RGB"))
        label = np.asarray(Image.open(out / "labels" / f"{stem}.png"))
        np.testing.assert_array_equal(mask, np.asarray(list(labelmap.values()), dtype=np.uint8)[label])
    with zipfile.ZipFile(out / "cvat_prelabels.zip") as bundle:
        assert sorted(bundle.namelist()) == sorted(p.relative_to(out / "cvat").as_posix()
                                                   for p in (out / "cvat").rglob("*") if p.is_file())


def test_ros1_bag_with_compressed_thermal(tiny_checkpoint: Path, tmp_path: Path) -> None:
    write_ros1_bag(tmp_path / "run.bag", _frames())
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint)
    config = BagEvalConfig(rgb_topic="/cam/rgb/image_raw", x_topic="/cam/thermal/image_raw", progress=False,
                           labels=False)
    result = mine_bag(tmp_path / "run.bag", segmenter, tmp_path / "out", MineConfig(budget=2, min_gap_s=0),
                      config)
    assert result.pairs == 5 and len(result.picks) == 2
    assert len(list((tmp_path / "out" / "x").glob("*.png"))) == 2
    check_cvat_segmentation_mask_layout(tmp_path / "out" / "cvat", [p["stem"] for p in result.picks])


def test_clear_errors(mined: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bag", "mine", mined["bag"], "--checkpoint", mined["checkpoint"]]
    assert rxssnet_main([*base, "--budget", "2", "--out", str(mined["out"])]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert rxssnet_main([*base, "--budget", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--budget=0 must be an integer >= 1" in capsys.readouterr().err
    assert rxssnet_main([*base, "--budget", "2", "--out", str(tmp_path / "b"), "--x-topic", "/nope"]) == 2
    assert "--x-topic /nope is not in bag" in capsys.readouterr().err
    assert rxssnet_main(["bag", "mine", str(tmp_path / "missing"), "--checkpoint", mined["checkpoint"], "--budget",
                         "1", "--out", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rxssnet_main(["bag", "mine", "--help"])
    assert "--budget" in capsys.readouterr().out
    with pytest.raises(BagError, match="min-gap"):
        MineConfig(budget=1, min_gap_s=-1)


def readme_commands() -> list[list[str]]:
    """The commands of README's "Improve the model on your robot's recordings", as argv (verbatim)."""
    section = (REPO / "README.md").read_text().split("### Improve the model on your robot's recordings", 1)[1]
    section = re.split(r"\n##+ ", section, maxsplit=1)[0]
    return [shlex.split(line, comments=True) for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)
            for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_readme_commands_mine_fine_tune_and_evaluate(mined: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    commands = readme_commands()
    assert [argv[:2] for argv in commands] == [["rxssnet", "bag"], ["rxssnet", "train"], ["rxssnet", "bag"]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").symlink_to(REPO / "config")  # the commands run from a checkout
    write_robot_recording(tmp_path / "robot_run")  # 6 pairs: JPEG colour, PNG thermal, camera_infos, /tf_static
    shutil.copy(mined["checkpoint"], tmp_path / "model.safetensors")  # trained on synthetic_fusion (recorded)
    generate_fusion_dataset(tmp_path / "training_data", {"train": 4}, size=(64, 80), progress=False)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for argv in commands:
            assert rxssnet_main(argv[1:]) == 0, argv
    finally:
        torch.set_num_threads(previous)
    assert len((tmp_path / "to_label" / "splits" / "train.txt").read_text().split()) == 6  # budget 40 > 6 pairs
    _, _, metadata = load_checkpoint(tmp_path / "finetuned" / "final.safetensors")
    assert metadata["lineage"]["parent"]["sha256"] == hashlib.sha256(
        (tmp_path / "model.safetensors").read_bytes()).hexdigest()
    assert metadata["lineage"]["replay"]["dataset"] == "synthetic_fusion"
    assert metadata["class_names"] == Segmenter.from_checkpoint(tmp_path / "model.safetensors").class_names
    assert (tmp_path / "finetuned_report" / "metrics.json").is_file()
