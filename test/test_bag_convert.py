# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet bag convert`: a dataset split becomes a rosbag2 whose messages decode back to the dataset's arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_layout import DATASET_INFO_TOPIC, read_dataset_info
from rxssnet_ros.bag_tools.bag_writer import get_typestore, pinhole_camera_info
from rxssnet_ros.bag_tools.convert import convert_dataset_to_bag, label_encoding, x_encoding
from rxssnet_ros.cli import main as rxssnet_main
from rxssnet_ros.image_conversion import array_to_image_fields, image_to_array, rgb_from_image, x_from_image
from rxssnet_ros.ros_time import stamp_ns

SIZE = (64, 80)
COUNT = 5


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rxssnet_core.data.synthetic import generate_fusion_dataset

    return generate_fusion_dataset(tmp_path_factory.mktemp("synthetic"), counts={"test": COUNT}, size=SIZE,
                                   seed=3, progress=False)


def read_bag(path: Path) -> list[tuple[str, int, object]]:
    """Every message of a bag as (topic, log time, deserialised message), in log-time order."""
    from rosbags.rosbag2 import Reader

    store = get_typestore()
    with Reader(path) as reader:
        return [(c.topic, t, store.deserialize_cdr(d, c.msgtype)) for c, t, d in reader.messages()]


def by_topic(messages: list[tuple[str, int, object]], topic: str) -> list[object]:
    return [m for t, _, m in messages if t == topic]


def test_convert_round_trip_mcap(synthetic_root: Path, tmp_path: Path) -> None:
    from rxssnet_core.data import build_dataset

    out = tmp_path / "bag"
    summary = convert_dataset_to_bag("synthetic_fusion", synthetic_root, "test", out, camera_info=True,
                                     progress=False)
    assert (out / "bag.mcap").is_file() and (out / "metadata.yaml").is_file()
    assert summary.frames == COUNT
    messages = read_bag(out)
    assert messages[0][0] == DATASET_INFO_TOPIC  # replayed first, so class names arrive before any frame
    ds = build_dataset("synthetic_fusion", synthetic_root, "test")
    rgb_msgs = by_topic(messages, "/camera/rgb/image")
    x_msgs = by_topic(messages, "/camera/x/image")
    gt_msgs = by_topic(messages, "/camera/labels_gt")
    rgb_info = by_topic(messages, "/camera/rgb/camera_info")
    x_info = by_topic(messages, "/camera/x/camera_info")
    assert len(rgb_msgs) == len(x_msgs) == len(gt_msgs) == len(rgb_info) == len(x_info) == COUNT
    stamps = [stamp_ns(m.header.stamp) for m in rgb_msgs]
    assert np.all(np.diff(stamps) == 100_000_000)  # default --rate 10
    for index in range(COUNT):
        raw = ds.read_raw(index)
        rgb, x, gt = rgb_msgs[index], x_msgs[index], gt_msgs[index]
        # RGB, X and GT of one frame share the stamp (no jitter), and each decodes to the dataset's array.
        assert stamp_ns(x.header.stamp) == stamp_ns(gt.header.stamp) == stamps[index]
        assert (rgb.encoding, x.encoding, gt.encoding) == ("rgb8", "mono8", "mono8")
        assert rgb.header.frame_id == gt.header.frame_id == "camera_rgb_optical_frame"
        assert x.header.frame_id == "camera_x_optical_frame"
        np.testing.assert_array_equal(rgb_from_image(rgb), raw.rgb)
        np.testing.assert_array_equal(x_from_image(x), raw.x)
        np.testing.assert_array_equal(image_to_array(gt), raw.label)
        info = rgb_info[index]
        assert (info.height, info.width) == SIZE and stamp_ns(info.header.stamp) == stamps[index]
    expected_k = pinhole_camera_info(*SIZE)["k"]
    np.testing.assert_allclose(rgb_info[0].k, expected_k)
    assert expected_k[2] == pytest.approx((SIZE[1] - 1) / 2) and expected_k[0] == pytest.approx(
        SIZE[1] / 2 / np.tan(np.radians(30)))
    described = read_dataset_info(out)
    assert described["class_names"] == list(ds.info.class_names)
    assert [f["stem"] for f in described["frames"]] == ds.stems
    assert [f["stamp_ns"] for f in described["frames"]] == stamps
    assert described["ignore_index"] == 255 and described["modality"] == "thermal"


def test_convert_jitter_rate_and_sqlite(synthetic_root: Path, tmp_path: Path) -> None:
    def x_and_rgb_stamps(out: Path, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        convert_dataset_to_bag("synthetic_fusion", synthetic_root, "test", out, storage="sqlite3", rate=5.0,
                               jitter_ms=20.0, seed=seed, progress=False)
        messages = read_bag(out)
        return tuple(np.array([stamp_ns(m.header.stamp) for m in by_topic(messages, topic)])
                     for topic in ("/camera/rgb/image", "/camera/x/image", "/camera/labels_gt"))

    rgb, x, gt = x_and_rgb_stamps(tmp_path / "a", seed=1)
    assert list((tmp_path / "a").glob("*.db3"))
    assert np.all(np.diff(rgb) == 200_000_000)  # --rate 5
    np.testing.assert_array_equal(rgb, gt)  # ground truth keeps the RGB stamp exactly
    offsets = x - rgb
    assert np.all(np.abs(offsets) <= 20_000_000) and np.count_nonzero(offsets) == COUNT
    _, x_again, _ = x_and_rgb_stamps(tmp_path / "b", seed=1)
    _, x_other, _ = x_and_rgb_stamps(tmp_path / "c", seed=2)
    np.testing.assert_array_equal(x, x_again)  # the seed makes the jitter reproducible
    assert not np.array_equal(x, x_other)


@pytest.mark.parametrize(("array", "encoding"), [
    (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000, "mono16"),
    (np.linspace(0, 3, 12, dtype=np.float32).reshape(3, 4), "32FC1"),
    (np.arange(36, dtype=np.uint8).reshape(3, 4, 3), "rgb8"),
    (np.arange(12, dtype=np.uint8).reshape(3, 4), "mono8"),
])
def test_x_encoding_round_trips_through_the_node_decoder(array: np.ndarray, encoding: str) -> None:
    name, stored = x_encoding(array)
    assert name == encoding
    fields = array_to_image_fields(stored, name)
    msg = type("Msg", (), fields)()
    np.testing.assert_array_equal(x_from_image(msg), array)


def test_label_encoding_uses_mono16_beyond_255_classes() -> None:
    label = np.array([[0, 254], [255, 3]], dtype=np.uint8)
    assert label_encoding(label, 9)[0] == "mono8"
    name, stored = label_encoding(label, 300)
    assert name == "mono16" and stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, label)
    with pytest.raises(BagError, match="float"):
        label_encoding(label.astype(np.float32), 300)


def test_cli_convert_overwrite_refusal_and_bad_options(synthetic_root: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli_bag"
    base = ["bag", "convert", "--dataset", "synthetic_fusion", "--root", str(synthetic_root), "--split", "test",
            "--out", str(out), "--max-frames", "2"]
    assert rxssnet_main(base) == 0
    assert "wrote 2 frames" in capsys.readouterr().out
    assert rxssnet_main(base) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "already exists" in err and "--overwrite" in err
    assert rxssnet_main([*base, "--overwrite", "--max-frames", "3"]) == 0
    assert len(read_dataset_info(out)["frames"]) == 3
    # --overwrite never deletes something that is not a bag.
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert rxssnet_main([*base[:-4], "--out", str(precious), "--overwrite"]) == 2
    assert "not a rosbag2 that this tool recognises" in capsys.readouterr().err and (precious / "notes.txt").exists()
    # nor a bag folder into which someone put their own file (it is not deleted with the bag's files)
    (out / "my_notes.txt").write_text("keep me too")
    assert rxssnet_main([*base, "--overwrite"]) == 2
    capsys.readouterr()
    assert (out / "my_notes.txt").exists() and (out / "metadata.yaml").exists()
    # nor a metadata.yaml that is not a bag's
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "metadata.yaml").write_text("just: a config\n")
    assert rxssnet_main([*base[:-4], "--out", str(fake), "--overwrite"]) == 2
    assert (fake / "metadata.yaml").read_text() == "just: a config\n"
    capsys.readouterr()
    assert rxssnet_main([*base[:-4], "--out", str(tmp_path / "x"), "--rate", "10", "--jitter-ms", "60"]) == 2
    assert "--jitter-ms" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert rxssnet_main([*base[:-4], "--out", str(tmp_path / "y"), "--x-topic", "camera x"]) == 2
    assert "--x-topic" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        rxssnet_main(["bag", "convert", "--help"])
    assert exit_info.value.code == 0
    assert "--jitter-ms" in capsys.readouterr().out
    assert json.loads(json.dumps(read_dataset_info(out)))["dataset"] == "synthetic_fusion"
