# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The real ROS 2 tools against the colcon-installed package: `ros2 launch rxssnet_ros segment.launch.py` starts
segment_node, answers every frame of a replayed bag, takes `ros2 param set`, and Ctrl-C (SIGINT to the process
group, as a terminal sends it) exits 0 with nothing left running; a node that dies with a FATAL error makes
`ros2 launch` exit non-zero; `use_rviz:=true` without rviz2 fails before any process starts; `ros2 run rxssnet_ros
rxssnet` is the CLI after `colcon build`.

The `ros2` tools come from a sourced ROS 2, or from ../shared/ros_tools installed into the venv by `make test`
(`.venv/ros_tools_env.sh`); without either the module skips.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from colcon_workspace import build_workspace, ros2_shell_prefix
from ros_harness import Harness, image_msg, ros_child_env

pytestmark = [pytest.mark.ros]

BAG_FRAMES = 6
RGB_TOPIC, X_TOPIC = "/launch_test/rgb/image", "/launch_test/x/image"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, str]:
    """(install folder, bash prefix that sources the ros2 tools and the workspace)."""
    if not (Path(sys.executable).parent / "colcon").exists():
        pytest.skip("colcon is not installed in this environment")
    install = build_workspace(tmp_path_factory.mktemp("ws"))
    prefix = ros2_shell_prefix(install)
    if prefix is None:
        pytest.skip("no ros2 tools: source a ROS 2 distribution, or run `make test` (installs ../shared/ros_tools)")
    return install, prefix


class ShellProcess:
    """A bash command line in its own process group; its combined output is collected line by line."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(["bash", "-c", command], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.1)
        time.sleep(0.2)  # let the reader drain the pipe
        return any(text in line for line in self.lines)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        self._reader.join(5)
        return code

    def interrupt(self, timeout: float) -> int:
        """Ctrl-C: SIGINT to the whole process group (ros2 launch and its nodes), then wait."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def processes_running(marker: str) -> list[str]:
    """Command lines of this machine's processes that contain `marker` (the test's workspace path)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if marker in cmdline and "segment_node" in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


def ros2(prefix: str, arguments: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", prefix + arguments], env=ros_child_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> tuple[Path, list[int]]:
    """A rosbag2 of BAG_FRAMES synthetic RGB-thermal frames; returns (bag, RGB stamps in ns)."""
    from rxssnet_core.data.synthetic import generate_fusion_dataset
    from rxssnet_ros.bag_tools.bag_layout import BagTopics
    from rxssnet_ros.bag_tools.convert import convert_dataset_to_bag

    base = tmp_path_factory.mktemp("launch_bag")
    root = generate_fusion_dataset(base / "data", counts={"test": BAG_FRAMES}, size=(64, 80), seed=3, progress=False)
    summary = convert_dataset_to_bag("synthetic_fusion", root, "test", base / "bag", rate=5.0, progress=False,
                                     topics=BagTopics(rgb=RGB_TOPIC, x=X_TOPIC, gt="/launch_test/labels_gt"))
    stamps = [frame["stamp_ns"] for frame in summary.info["frames"]]
    assert len(stamps) == BAG_FRAMES
    return summary.bag, stamps


@pytest.mark.slow
def test_ros2_launch_answers_a_bag_takes_param_set_and_exits_0_on_ctrl_c(workspace, bag, tiny_checkpoint):
    install, prefix = workspace
    bag_path, stamps = bag
    launch = ShellProcess(prefix + f"exec ros2 launch rxssnet_ros segment.launch.py checkpoint:={tiny_checkpoint} "
                          f"rgb_topic:={RGB_TOPIC} x_topic:={X_TOPIC} input_size:=64x80",
                          {**ros_child_env(), "OMP_NUM_THREADS": "1"})
    harness = Harness("launch_test_harness")
    try:
        labels = harness.collect("/segment_node/labels")
        assert launch.wait_for_line("[segment_node]: segmenting", 120), launch.output
        assert harness.wait_for_publishers(["/segment_node/labels"], 60), launch.output

        set_result = ros2(prefix, "ros2 param set --no-daemon --spin-time 5 /segment_node overlay_alpha 0.3")
        assert set_result.returncode == 0 and "Set parameter successful" in set_result.stdout, set_result
        get_result = ros2(prefix, "ros2 param get --no-daemon --spin-time 5 /segment_node overlay_alpha")
        assert get_result.returncode == 0 and "0.3" in get_result.stdout, get_result

        play = subprocess.run([sys.executable, "-m", "rxssnet_ros.bag_player", str(bag_path), "--qos", "reliable",
                               "--rate", "0.25", "--delay", "60", "--topics", RGB_TOPIC, X_TOPIC],
                              env=ros_child_env(), capture_output=True, text=True, timeout=120)
        assert play.returncode == 0, play.stdout + play.stderr
        answered = labels.wait_for(lambda msgs: len(msgs) >= BAG_FRAMES, 60)
        assert answered, ([stamps.index(s) for s in labels.by_stamp() if s in stamps], launch.output[-3000:])
        # every frame answered, with its own stamp, and nothing else on the topic (a failure names the publishers)
        received = sorted(labels.by_stamp())
        assert received == stamps, (received, stamps, harness.publishers_of("/segment_node/labels"),
                                    launch.output[-3000:])
    finally:
        harness.close()
        code = launch.interrupt(60)
    assert code == 0, launch.output
    assert "[segment_node-1]: process has finished cleanly" in launch.output, launch.output
    assert not processes_running(str(install)), processes_running(str(install))


def test_fatal_node_error_makes_ros2_launch_fail(workspace, tmp_path):
    install, prefix = workspace
    missing = tmp_path / "missing.safetensors"
    launch = ShellProcess(prefix + f"exec ros2 launch rxssnet_ros segment.launch.py checkpoint:={missing}",
                          ros_child_env())
    code = launch.wait(120)
    assert code != 0, launch.output
    assert "[FATAL]" in launch.output and str(missing) in launch.output, launch.output
    assert "segment_node exited with code" in launch.output, launch.output
    assert not processes_running(str(install))


def test_use_rviz_without_rviz2_fails_before_anything_starts(workspace, tiny_checkpoint):
    install, prefix = workspace
    if ros2(prefix, "ros2 pkg prefix rviz2").returncode == 0:
        pytest.skip("rviz2 is installed here")
    launch = ShellProcess(prefix + f"exec ros2 launch rxssnet_ros segment.launch.py checkpoint:={tiny_checkpoint} "
                          "use_rviz:=true", ros_child_env())
    code = launch.wait(120)
    assert code != 0, launch.output
    assert "rviz2 is not installed" in launch.output, launch.output
    assert "process started" not in launch.output, launch.output  # no segment_node was started
    assert not processes_running(str(install)), processes_running(str(install))


def test_ros2_run_rxssnet_is_the_cli_after_colcon_build(workspace):
    """After `colcon build` the `rxssnet` command lives in lib/rxssnet_ros (not on PATH): README shows ros2 run."""
    _, prefix = workspace
    result = ros2(prefix, "ros2 run rxssnet_ros rxssnet --help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "convert-reference" in result.stdout and "bag" in result.stdout


@pytest.fixture(scope="module")
def depth_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny network again, as a depth model (uint16 millimetres): the rear rig's."""
    from rxssnet_core import load_model, save_model
    from rxssnet_core.preprocessing import PreprocessConfig

    model = load_model(tiny_checkpoint)
    path = tmp_path_factory.mktemp("depth") / "tiny_depth.safetensors"
    save_model(model, path, metadata={**model.metadata, "preprocess": PreprocessConfig(modality="depth").to_dict()})
    return path


@pytest.mark.slow
def test_two_rigs_in_one_ros2_launch_answer_on_their_own_topics_with_their_presets(workspace, tiny_checkpoint,
                                                                                   depth_checkpoint):
    """launch/two_rigs.launch.py: a front 1920x1080 bgr8 + 640x512 mono16 thermal rig (homography preset) and a rear
    1280x720 + aligned 16UC1 depth rig (RealSense preset), each answering at its camera's size on its namespace."""
    install, prefix = workspace
    launch = ShellProcess(prefix + "exec ros2 launch rxssnet_ros two_rigs.launch.py "
                          f"front_checkpoint:={tiny_checkpoint} rear_checkpoint:={depth_checkpoint}",
                          {**ros_child_env(), "OMP_NUM_THREADS": "1"})
    harness = Harness("two_rigs_harness")
    rng = np.random.default_rng(5)
    frames = {"front": (("/front/colour/image_raw", rng.integers(0, 256, (1080, 1920, 3), np.uint8), "bgr8"),
                        ("/front/thermal/image_raw", rng.integers(28000, 31000, (512, 640), np.uint16), "mono16")),
              "rear": (("/rear/camera/color/image_raw", rng.integers(0, 256, (720, 1280, 3), np.uint8), "rgb8"),
                       ("/rear/camera/aligned_depth_to_color/image_raw",
                        rng.integers(300, 6000, (720, 1280), np.uint16), "16UC1"))}
    sizes = {"front": (1080, 1920), "rear": (720, 1280)}
    try:
        labels = {rig: harness.collect(f"/{rig}/segment_node/labels") for rig in frames}
        publishers = {rig: [harness.publisher(topic) for topic, _, _ in pair] for rig, pair in frames.items()}
        for rig in frames:
            assert launch.wait_for_line(f"[{rig}.segment_node]: segmenting", 180), launch.output[-4000:]
        assert harness.wait_for_subscribers([p for pubs in publishers.values() for p in pubs], 60)
        assert harness.wait_for_publishers([f"/{rig}/segment_node/labels" for rig in frames], 60), launch.output
        for index in range(4):  # best-effort inputs (the presets' sensor_data QoS): a few frames, not one
            stamp = 1_700_000_000_000_000_000 + index * 200_000_000
            for rig, pair in frames.items():
                for publisher, (_, array, encoding) in zip(publishers[rig], pair):
                    publisher.publish(image_msg(array, encoding, stamp, f"{rig}_camera"))
            time.sleep(0.6)
        for rig in frames:
            assert labels[rig].wait_for(lambda msgs: len(msgs) >= 1, 60), (rig, launch.output[-4000:])
            msg = labels[rig].messages[0]
            assert (msg.height, msg.width) == sizes[rig], (rig, msg.height, msg.width)
        assert "input_size 384x640 (letterboxed)" in launch.output
    finally:
        harness.close()
        code = launch.interrupt(60)
    assert code == 0, launch.output[-4000:]
    assert not processes_running(str(install)), processes_running(str(install))
