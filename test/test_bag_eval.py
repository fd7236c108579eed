# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag eval`: offline replay scores exactly like `rxssnet eval`, and damaged bags give clear reports."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_writer import BagWriter, get_typestore
from rxssnet_ros.bag_tools.replay_eval import BagEvalConfig, evaluate_bag
from rxssnet_ros.bag_tools.report_plots import write_eval_report
from rxssnet_ros.cli import main as rxssnet_main
from rxssnet_ros.ros_time import stamp_ns

SIZE = (64, 80)
FRAMES = 6


def _one_thread() -> Any:
    # The CPU is shared by parallel test runs; one thread avoids OpenMP oversubscription (10x slower). Both
    # evaluations below run with the same setting, so their floating-point results stay comparable bit for bit.
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


def build_offline_case(base: Path) -> dict[str, Any]:
    """Synthetic split (6 test images 64x80), a checkpoint with its classes, the converted bag, `rxssnet eval`
    and `rxssnet bag eval --write-predictions` reports. Built once per test session (cached under `base`)."""
    done = base / "case.json"
    if done.exists():
        return json.loads(done.read_text())
    import torch

    from rxssnet_core import ModelConfig, build_model, save_model
    from rxssnet_core.data import DATASETS
    from rxssnet_core.data.synthetic import generate_fusion_dataset

    base.mkdir(parents=True, exist_ok=True)
    root = generate_fusion_dataset(base / "synthetic", counts={"test": FRAMES}, size=SIZE, seed=0, progress=False)
    info = DATASETS["synthetic_fusion"]
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="atto", num_classes=info.num_classes, decoder_dim=32)).eval()
    checkpoint = base / "synthetic.safetensors"
    save_model(model, checkpoint, metadata={"preprocess": info.preprocess.to_dict(),
                                            "class_names": list(info.class_names), "palette": info.palette,
                                            "dataset": info.name})
    bag, predictions = base / "bag", base / "predictions"
    assert rxssnet_main(["bag", "convert", "--dataset", "synthetic_fusion", "--root", str(root), "--split", "test",
                         "--out", str(bag), "--camera-info", "--jitter-ms", "5"]) == 0
    previous = _one_thread()
    try:
        assert rxssnet_main(["eval", "--checkpoint", str(checkpoint), "--dataset", "synthetic_fusion", "--root",
                             str(root), "--split", "test", "--out", str(base / "eval"), "--device", "cpu"]) == 0
        assert rxssnet_main(["bag", "eval", str(bag), "--checkpoint", str(checkpoint), "--out",
                             str(base / "bag_eval"), "--write-predictions", str(predictions)]) == 0
    finally:
        torch.set_num_threads(previous)
    case = {"root": str(root), "checkpoint": str(checkpoint), "bag": str(bag), "predictions": str(predictions),
            "eval": str(base / "eval"), "bag_eval": str(base / "bag_eval")}
    done.write_text(json.dumps(case))
    return case


@pytest.fixture(scope="session")
def offline_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_offline_case(tmp_path_factory.getbasetemp() / "bag_eval_case")


@pytest.fixture(scope="module")
def segmenter(offline_case: dict[str, Any]) -> Any:
    import torch

    from rxssnet_core import Segmenter

    previous = _one_thread()
    yield Segmenter.from_checkpoint(offline_case["checkpoint"])
    torch.set_num_threads(previous)


def read_topic(bag: str | Path, topic: str) -> list[Any]:
    from rosbags.rosbag2 import Reader

    store = get_typestore()
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [store.deserialize_cdr(d, c.msgtype) for c, _, d in reader.messages(conns)]


@pytest.mark.slow
def test_bag_eval_equals_rxssnet_eval(offline_case: dict[str, Any]) -> None:
    from rxssnet_ros.image_conversion import image_to_array

    offline = json.loads((Path(offline_case["eval"]) / "metrics.json").read_text())
    replay = json.loads((Path(offline_case["bag_eval"]) / "metrics.json").read_text())
    # Same frames, same model, same preprocessing: the replayed bag scores EXACTLY like the dataset.
    assert replay["miou"] == offline["miou"]
    assert replay["iou"] == offline["iou"]
    assert replay["confusion_matrix"] == offline["confusion_matrix"]
    assert replay["pixel_accuracy"] == offline["pixel_accuracy"]
    assert replay["class_names"] == ["background", "painted_marker", "warm_person", "vehicle"]
    section = replay["bag_eval"]
    assert section["counts"]["scored"] == section["counts"]["pairs"] == FRAMES
    assert section["issues"] == []  # 5 ms jitter is well within the 50 ms slop
    latency = section["latency_ms"]
    assert latency["count"] == FRAMES and 0 < latency["min"] <= latency["median"] <= latency["p90"] <= latency["p99"]
    for name in ("per_class_iou.png", "latency_histogram.png", "confusion_matrix.png", "metrics.md"):
        assert (Path(offline_case["bag_eval"]) / name).stat().st_size > 0
    stems = [line.split(",")[2] for line in (Path(offline_case["bag_eval"]) / "frames.csv").read_text().split()[1:]]
    assert stems == [f"test_{i:04d}" for i in range(FRAMES)]
    # The predictions bag: every input message plus labels and overlay with the RGB headers.
    rgb = read_topic(offline_case["predictions"], "/camera/rgb/image")
    labels = read_topic(offline_case["predictions"], "/segment_node/labels")
    overlays = read_topic(offline_case["predictions"], "/segment_node/overlay")
    assert len(rgb) == len(labels) == len(overlays) == FRAMES
    assert len(read_topic(offline_case["predictions"], "/camera/x/camera_info")) == FRAMES
    assert [stamp_ns(m.header.stamp) for m in labels] == [stamp_ns(m.header.stamp) for m in rgb]
    assert labels[0].encoding == "mono8" and overlays[0].encoding == "rgb8"
    from rxssnet_core.evaluation.metrics import ConfusionMatrix

    matrix = ConfusionMatrix(4)
    for label_msg, gt_msg in zip(labels, read_topic(offline_case["predictions"], "/camera/labels_gt")):
        matrix.update(image_to_array(label_msg), image_to_array(gt_msg))
    assert matrix.compute().miou == replay["miou"]


# ---------------------------------------------------------------------------------------------------------------
# Damaged bags


def _write_faulty_bag(path: Path) -> dict[str, Any]:
    """8 frames at 10 Hz, 48x64. X missing for frames 1 and 3, X of frame 4 in 'yuv422'; a stale X (frame 2's
    stamp) logged after frame 5; no GT for frame 7; one GT whose stamp matches no frame."""
    rng = np.random.default_rng(0)
    height, width = 48, 64
    start, period = 1_800_000_000 * 10**9, 100_000_000
    frames = []
    with BagWriter(path) as bag:
        for index in range(8):
            stamp = start + index * period
            rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            x = rng.integers(0, 255, (height, width), dtype=np.uint8)
            gt = rng.integers(0, 4, (height, width), dtype=np.uint8)
            gt[:4] = 255
            frames.append({"stamp": stamp, "rgb": rgb, "x": x, "gt": gt})
            bag.write_image("/cam/rgb", rgb, "rgb8", stamp, "rgb")
            if index == 4:
                fields = {"height": height, "width": width, "encoding": "yuv422", "is_bigendian": 0,
                          "step": width * 2, "data": np.zeros(height * width * 2, dtype=np.uint8)}
                bag.write_message("/cam/x", bag.image(fields, stamp + 2_000_000, "x"), stamp + 2_000_000)
            elif index not in (1, 3):
                bag.write_image("/cam/x", x, "mono8", stamp + 2_000_000, "x")
            if index != 7:
                bag.write_image("/cam/gt", gt, "mono8", stamp, "rgb")
            if index == 5:
                bag.write_image("/cam/x", frames[2]["x"], "mono8", start + 2 * period + 2_000_000, "x",
                                log_time_ns=stamp + 3_000_000)
        bag.write_image("/cam/gt", frames[0]["gt"], "mono8", start + 123_456, "rgb")
    return {"frames": frames, "scored": (0, 2, 5, 6)}


@pytest.mark.slow
def test_faulty_bag_is_counted_and_named(segmenter: Any, tmp_path: Path) -> None:
    from rxssnet_core.evaluation.metrics import ConfusionMatrix

    truth = _write_faulty_bag(tmp_path / "faulty")
    config = BagEvalConfig(rgb_topic="/cam/rgb", x_topic="/cam/x", gt_topic="/cam/gt", progress=False)
    result = evaluate_bag(tmp_path / "faulty", segmenter, config)
    texts = result.issues.texts()
    assert "3 RGB frames had no X within slop (slop 0.05 s)" in texts
    assert "1 message with unsupported encoding 'yuv422' on /cam/x" in texts
    assert any(t.startswith("1 message on /cam/x had a header stamp earlier than the previous one") for t in texts)
    assert "1 segmented frame had no ground truth with the exact RGB stamp on /cam/gt" in texts
    assert "1 ground-truth message on /cam/gt had a stamp that no RGB frame has" in texts
    assert "3 ground-truth messages on /cam/gt belonged to RGB frames that were not segmented (see the problems " \
           "above)" in texts
    assert result.counts["scored"] == 4 and result.counts["pairs"] == 5
    # The score is that of exactly the frames that had an X and a GT.
    matrix = ConfusionMatrix(4)
    for index in truth["scored"]:
        frame = truth["frames"][index]
        matrix.update(segmenter.segment(frame["rgb"], frame["x"]).labels, frame["gt"])
    assert result.metrics.confusion_matrix == matrix.compute().confusion_matrix
    paths = write_eval_report(result.metrics, tmp_path / "report", result.class_names,
                              latencies_ms=result.latencies_ms, issues=result.issues.to_list(), counts=result.counts)
    markdown = paths["markdown"].read_text()
    assert "- 3 RGB frames had no X within slop (slop 0.05 s)" in markdown
    assert "unsupported encoding 'yuv422'" in json.dumps(json.loads(paths["json"].read_text())["bag_eval"]["issues"])


@pytest.mark.slow
def test_truncated_bag_is_salvaged(offline_case: dict[str, Any], segmenter: Any, tmp_path: Path) -> None:
    damaged = tmp_path / "truncated"
    shutil.copytree(offline_case["bag"], damaged)
    (mcap,) = damaged.glob("*.mcap")
    os.truncate(mcap, int(mcap.stat().st_size * 0.6))
    result = evaluate_bag(damaged, segmenter, BagEvalConfig(progress=False))
    (issue,) = [i for i in result.issues if i.kind == "truncated"]
    assert "is truncated or damaged" in issue.text() and "salvaged" in issue.text()
    assert 1 <= result.counts["scored"] < FRAMES  # the frames before the cut are still scored
    assert result.dataset_info is not None and result.class_names[1] == "painted_marker"


@pytest.mark.slow
def test_bag_eval_cli_errors_name_the_input(offline_case: dict[str, Any], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bag", "eval", offline_case["bag"], "--checkpoint", offline_case["checkpoint"], "--out",
            str(tmp_path / "r")]
    assert rxssnet_main([*base, "--x-topic", "/thermal/image"]) == 2
    err = capsys.readouterr().err
    assert "--x-topic /thermal/image is not in bag" in err and "/camera/x/image (sensor_msgs/msg/Image)" in err
    assert rxssnet_main([*base, "--gt-topic", "/camera/rgb/camera_info"]) == 2
    assert "sensor_msgs/msg/CameraInfo" in capsys.readouterr().err
    assert rxssnet_main([*base[:2], str(tmp_path / "nope"), *base[3:]]) == 2
    assert "does not exist" in capsys.readouterr().err
    # X is jittered by up to 5 ms: with --slop 0 nothing pairs, which is reported and fails the command.
    assert rxssnet_main([*base, "--slop", "0"]) == 1
    captured = capsys.readouterr()
    assert "6 RGB frames had no X within slop (slop 0 s)" in captured.out and "no frame was scored" in captured.err
    assert rxssnet_main([*base, "--queue-size", "0"]) == 2
    assert "--queue-size=0 must be an integer >= 1" in capsys.readouterr().err
    assert rxssnet_main([*base, "--write-predictions", offline_case["bag"], "--overwrite"]) == 2
    assert "must name a new bag" in capsys.readouterr().err and Path(offline_case["bag"], "metadata.yaml").exists()
    sqlite_bag = tmp_path / "sqlite"
    assert rxssnet_main(["bag", "convert", "--dataset", "synthetic_fusion", "--root", offline_case["root"],
                         "--out", str(sqlite_bag), "--storage", "sqlite3", "--max-frames", "2"]) == 0
    (db,) = sqlite_bag.glob("*.db3")
    os.truncate(db, db.stat().st_size // 2)
    with pytest.raises(BagError, match="truncated or corrupt"):
        evaluate_bag(sqlite_bag, None, BagEvalConfig(progress=False))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        rxssnet_main(["bag", "eval", "--help"])
    assert exit_info.value.code == 0 and "--write-predictions" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------
# Recordings without labels


def _write_unlabelled_recording(path: Path) -> None:
    """10 frames at 10 Hz, 48x64, no ground truth: X of frame 3 lost, RGB frame 6 lost (a 200 ms gap)."""
    rng = np.random.default_rng(7)
    with BagWriter(path) as bag:
        for index in range(10):
            stamp = 1_800_000_000 * 10**9 + index * 100_000_000
            if index != 6:
                bag.write_image("/robot/rgb", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "rgb8", stamp, "rgb")
            if index != 3:
                bag.write_image("/robot/x", rng.integers(0, 255, (48, 64), dtype=np.uint8), "mono8",
                                stamp + 4_000_000, "x")


@pytest.mark.slow
def test_no_labels_reports_pairing_throughput_and_class_shares(offline_case: dict[str, Any], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from rxssnet_ros.image_conversion import image_to_array

    _write_unlabelled_recording(tmp_path / "run")
    base = ["bag", "eval", str(tmp_path / "run"), "--checkpoint", offline_case["checkpoint"], "--rgb-topic",
            "/robot/rgb", "--x-topic", "/robot/x", "--out", str(tmp_path / "report")]
    assert rxssnet_main(base) == 2  # without --no-labels the missing ground truth is named, with the way out
    assert "--gt-topic /camera/labels_gt is not in bag" in capsys.readouterr().err
    previous = _one_thread()
    try:
        assert rxssnet_main([*base, "--no-labels", "--write-predictions", str(tmp_path / "copy")]) == 0
    finally:
        import torch

        torch.set_num_threads(previous)
    out = capsys.readouterr().out
    assert "8 frames segmented (no labels: nothing scored)" in out
    assert "pairing: 8 pairs from 9 RGB and 9 X images; 1 RGB without X, 1 X unpaired" in out
    recording = json.loads((tmp_path / "report" / "metrics.json").read_text())["run"]["recording"]
    pairing, gaps = recording["pairing"], recording["stamp_gaps"]
    assert (pairing["pairs"], pairing["rgb_without_x"], pairing["x_unpaired"]) == (8, 1, 1)
    assert pairing["offset_ms_max"] == pytest.approx(4.0)
    assert gaps["rgb"]["period_ms"] == pytest.approx(100.0) and gaps["rgb"]["max_gap_ms"] == pytest.approx(200.0)
    assert gaps["rgb"]["long_gaps"] == 1 and gaps["x"]["long_gaps"] == 1
    assert recording["throughput"]["processing_hz"] > 0 and recording["throughput"]["recording_hz"] > 0
    # The class shares are those of the predictions written into the copy of the bag.
    labels = np.concatenate([image_to_array(m).reshape(-1) for m in read_topic(tmp_path / "copy",
                                                                               "/segment_node/labels")])
    assert labels.size == 8 * 48 * 64
    names = ["background", "painted_marker", "warm_person", "vehicle"]
    expected = {name: float(np.count_nonzero(labels == k)) / labels.size for k, name in enumerate(names)}
    assert recording["class_shares"] == pytest.approx(expected)
    assert len(read_topic(tmp_path / "copy", "/robot/rgb")) == 9


# ---------------------------------------------------------------------------------------------------------------
# README: a typical robot recording, end to end


REPO = Path(__file__).resolve().parents[1]


def readme_robot_commands() -> list[list[str]]:
    """The `rxssnet bag ... robot_run ...` commands of README's bag-evaluation section, as argv (verbatim)."""
    import re
    import shlex

    section = (REPO / "README.md").read_text().split("### Evaluate on your recordings", 1)[1]
    section = re.split(r"\n##+ ", section, maxsplit=1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:1] == ["rxssnet"] and "robot_run" in argv:
                commands.append(argv)
    return commands


def write_robot_recording(path: Path, frames: int = 6) -> None:
    """What a robot records: JPEG colour and PNG thermal over image_transport (at other sizes), both
    camera_infos, and /tf_static from robot_state_publisher (base_link -> each optical frame), no labels."""
    from rxssnet_core.transforms import rotation_from_quaternion
    from rxssnet_ros.bag_tools.tf_from_bag import write_tf_static

    rng = np.random.default_rng(17)
    optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    start = 1_800_000_000 * 10**9
    with BagWriter(path) as bag:
        write_tf_static(bag, [("base_link", "camera_color_optical_frame", optical, [0.2, 0.0, 0.6]),
                              ("base_link", "thermal_optical_frame", rotation_from_quaternion(0.0, 0.0, 0.02, 1.0)
                               @ optical, [0.2, -0.08, 0.6])], start - 1)
        for index in range(frames):
            stamp = start + index * 100_000_000
            bag.write_camera_info("/camera/color/camera_info", 64, 80, stamp, "camera_color_optical_frame")
            bag.write_compressed("/camera/color/image_raw/compressed",
                                 rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), "rgb8", "jpeg", stamp,
                                 "camera_color_optical_frame")
            bag.write_camera_info("/thermal/camera_info", 48, 60, stamp + 7_000_000, "thermal_optical_frame")
            bag.write_compressed("/thermal/image_raw/compressed", rng.integers(0, 256, (48, 60), dtype=np.uint8),
                                 "mono8", "png", stamp + 7_000_000, "thermal_optical_frame")


@pytest.mark.slow
def test_readme_robot_recording_commands_run_verbatim(offline_case: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    commands = readme_robot_commands()
    assert commands, "README's bag-evaluation section shows no robot-recording command"
    monkeypatch.chdir(tmp_path)
    write_robot_recording(tmp_path / "robot_run")
    shutil.copy(offline_case["checkpoint"], tmp_path / "model.safetensors")
    previous = _one_thread()
    try:
        for argv in commands:
            assert rxssnet_main(argv[1:]) == 0, argv
    finally:
        import torch

        torch.set_num_threads(previous)
    report = json.loads((tmp_path / "robot_report" / "metrics.json").read_text())
    assert report["bag_eval"]["issues"] == []  # the extrinsic came from /tf_static: every pair registered
    recording = report["run"]["recording"]
    assert recording["topics"] == {"rgb": "/camera/color/image_raw/compressed", "x": "/thermal/image_raw/compressed"}
    assert recording["pairing"]["pairs"] == report["bag_eval"]["counts"]["segmented"] == 6
    assert len(read_topic(tmp_path / "robot_run_segmented", "/segment_node/labels")) == 6


# ---------------------------------------------------------------------------------------------------------------
# Degraded modes


@pytest.mark.slow
def test_degraded_modes_table_beside_the_fused_score(offline_case: dict[str, Any], segmenter: Any, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from rxssnet_core.evaluation.metrics import ConfusionMatrix
    from rxssnet_ros.image_conversion import image_to_array, rgb_from_image, x_from_image

    out = tmp_path / "report"
    assert rxssnet_main(["bag", "eval", offline_case["bag"], "--checkpoint", offline_case["checkpoint"], "--out",
                         str(out), "--degraded-modes", "--shift-px", "6"]) == 0
    printed = capsys.readouterr().out
    assert "degraded modes (noise std 0.5, shift 6 px):" in printed and "| x_shift |" in printed
    table = json.loads((out / "degraded_modes.json").read_text())
    assert list(table["modes"]) == ["fused", "x_missing", "x_blank", "x_noise", "x_shift", "rgb_missing"]
    fused = json.loads((out / "metrics.json").read_text())
    assert table["modes"]["fused"]["miou"] == fused["miou"]
    # x_missing is what the node feeds without X (neutral X), rgb_missing a black RGB image: score both by hand.
    rgbs = [rgb_from_image(m) for m in read_topic(offline_case["bag"], "/camera/rgb/image")]
    xs = [x_from_image(m) for m in read_topic(offline_case["bag"], "/camera/x/image")]
    gts = [image_to_array(m) for m in read_topic(offline_case["bag"], "/camera/labels_gt")]
    by_hand = {"x_missing": ConfusionMatrix(4), "rgb_missing": ConfusionMatrix(4)}
    for rgb, x, gt in zip(rgbs, xs, gts):
        by_hand["x_missing"].update(segmenter.segment(rgb, None).labels, gt)
        by_hand["rgb_missing"].update(segmenter.segment(np.zeros_like(rgb), x).labels, gt)
    for mode, matrix in by_hand.items():
        assert table["modes"][mode]["confusion_matrix"] == np.asarray(matrix.compute().confusion_matrix).tolist()
    assert table["modes"]["x_shift"]["confusion_matrix"] != fused["confusion_matrix"]
    assert (out / "degraded_modes.md").read_text().count("\n| ") >= 6
    # this checkpoint was saved without a training recipe: the report says so instead of guessing
    assert table["run"]["modality dropout in training"].startswith("not recorded")
    assert rxssnet_main(["bag", "eval", offline_case["bag"], "--checkpoint", offline_case["checkpoint"], "--out",
                         str(tmp_path / "r2"), "--degraded-modes", "--no-labels"]) == 2
    assert "cannot be combined with --no-labels" in capsys.readouterr().err
