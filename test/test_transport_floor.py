# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The transport floor of `node_latency`: a relay node in its own process, fed by the benchmark's probe in a real
graph, must hand back a camera-size label image for each RGB image, stamped with that image's stamp; the size
table must say where the floor alone is above a size's target; `node_ab` refuses a baseline it cannot run."""

from __future__ import annotations

import pytest
from ros_harness import ros_child_env

from rxssnet_ros.benchmarks import node_ab
from rxssnet_ros.benchmarks.size_table import print_size_table
from rxssnet_ros.benchmarks.transport_floor import floor_run, relay_main


def test_relay_returns_each_rgb_stamp_as_a_label_image_of_the_size_asked() -> None:
    run = floor_run(ros_child_env(), 96, 128, seconds=2.0)
    assert run["rgb_sent"] == 60
    # labels are matched to the RGB images by stamp: a relay that lost or changed stamps would match none
    assert run["relayed"] >= 0.8 * run["rgb_sent"]
    assert 0.0 < run["floor_p50_ms"] <= run["floor_p90_ms"] < 1000.0
    assert run["floor_label_sizes"] == [(96, 128)]  # the camera's size by default
    # output_resolution: network -> the node's labels have the letterbox's content size; so must the relay's
    smaller = floor_run(ros_child_env(), 96, 128, seconds=1.0, label_size=(48, 64))
    assert smaller["floor_label_sizes"] == [(48, 64)] and smaller["relayed"] >= 0.8 * smaller["rgb_sent"]


def test_relay_refuses_a_label_size_that_is_not_hxw(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        relay_main(["--height", "96", "--width", "128", "--label-size", "camera"])
    assert exit_info.value.code == 2
    assert "--label-size='camera' must look like '480x640'" in capsys.readouterr().err


def test_size_table_names_sizes_whose_floor_is_above_the_target(capsys) -> None:
    run = {"outputs": 70, "node_adds_p50_ms": 12.0, "node_adds_p90_ms": 15.0, "pipeline_steps_p90_ms": 4.0,
           "outside_pipeline_p90_ms": 11.0}
    print_size_table({(480, 640): {**run, "label_sizes": [(480, 640)], "floor_p50_ms": 3.0, "floor_p90_ms": 4.0,
                                   "floor_label_sizes": [(480, 640)]},
                      (1080, 1920): {**run, "label_sizes": [(360, 640)], "floor_p50_ms": 8.0, "floor_p90_ms": 10.5,
                                     "floor_label_sizes": [(1080, 1920)]}})
    table = capsys.readouterr().out
    assert "| 640x480 | 640x480 | 70 | 12.0 | 15.0 | 4.0 | 11.0 | 3.0 / 4.0 | 9.0 / 11.0 | 10 | MISSES |" in table
    assert "| 1920x1080 | 640x360 | 70 | 12.0 | 15.0 | 4.0 | 11.0 | 8.0 / 10.5 | 4.0 / 4.5 | 10 | MISSES |" in table
    assert "1920x1080: the transport floor alone (10.5 ms at p90" in table
    assert "640x480: the transport floor alone" not in table
    # a floor whose labels are not the node's size measures another transport: said, not silently subtracted
    assert "1920x1080: the relay sent 1920x1080 labels and the node 640x360: this floor is not the node's" in table
    assert "640x480: the relay sent" not in table
    print_size_table({(720, 1280): run})
    without_floor = capsys.readouterr().out
    assert "| 1280x720 | ? | 70 | 12.0 | 15.0 | 4.0 | 11.0 | nan / nan | nan / nan | 7 | MISSES |" in without_floor


def test_node_ab_refuses_a_baseline_that_is_not_a_checkout(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        node_ab.main(["--baseline", str(tmp_path), "--rounds", "1"])
    assert exit_info.value.code == 2
    assert "is not a checkout of this package" in capsys.readouterr().err
