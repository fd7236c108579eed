# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""segment_node end to end: real rclpy, the node in its own process, a harness node in this one.

Three nodes start together (their discovery overlaps): A pairs registered RGB/X with x_alignment none and
publishes every output; B resizes a half-size X (x_alignment resize, ~/x_aligned) and falls back to RGB-only
when X stops; C registers depth with both camera_infos (x_alignment depth, three synchronized inputs) and
publishes the labelled ~/points.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import time

import numpy as np
import pytest
from ros_harness import (
    Harness,
    NodeProcess,
    diagnostic_values,
    image_msg,
    image_to_numpy,
    ros_child_env,
    torch_threads,
)

from rxssnet_ros.ros_time import stamp_ns

H, W = 64, 80
MS = 1_000_000
START_NS = 1_700_000_000 * 1_000_000_000
FRAMES = 100


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    from rxssnet_core import Segmenter

    return Segmenter.from_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="module")
def depth_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny network again, labelled as a depth model (uint16 millimetres)."""
    from rxssnet_core import load_model, save_model
    from rxssnet_core.preprocessing import PreprocessConfig

    model = load_model(tiny_checkpoint)
    path = tmp_path_factory.mktemp("depth") / "tiny_depth.safetensors"
    save_model(model, path, metadata={**model.metadata, "preprocess": PreprocessConfig(modality="depth").to_dict()})
    return path


@pytest.fixture(scope="module")
def graph(tiny_checkpoint, depth_checkpoint):
    ros_env = ros_child_env()
    common = {"checkpoint": str(tiny_checkpoint), "input_qos": "reliable", "log_throttle_period": 60.0,
              "diagnostics_period": 0.5}
    # Frames come every 100 ms, X jitters by up to 20 ms: 60 ms is a true lower bound between two frames of
    # each camera, so every pair leaves the synchronizer as soon as both images are in (no double emission that
    # the latest-only worker would thin out).
    node_a = NodeProcess({**common, "slop": 0.05, "queue_size": 10, "inter_message_lower_bound": 0.06,
                          "publish_confidence": True},
                         ros_env, namespace="/seg_a",
                         remaps={"~/rgb/image": "/seg_a/cam/rgb", "~/x/image": "/seg_a/cam/x",
                                 "~/rgb/camera_info": "/seg_a/cam/rgb_info"})
    node_b = NodeProcess({**common, "x_alignment": "resize", "x_missing_policy": "rgb_only", "x_timeout": 1.0,
                          "debug_outputs": True}, ros_env, namespace="/seg_b")
    node_c = NodeProcess({**common, "checkpoint": str(depth_checkpoint), "x_alignment": "depth",
                          "x_extrinsic_rotation": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                          "x_extrinsic_translation": [0.0, 0.0, 0.0], "publish_points": True, "points_stride": 4,
                          "debug_outputs": True}, ros_env, namespace="/seg_c")
    harness = Harness("segment_node_test_harness")
    try:
        yield harness, node_a, node_b, node_c
    finally:
        harness.close()
        # Node A gets SIGINT twice (a terminal plus launch): its shutdown must survive the second one.
        codes = (node_a.stop(sigints=2), node_b.stop(), node_c.stop())
        outputs = "\n".join(n.output for n in (node_a, node_b, node_c))
        assert codes == (0, 0, 0), f"nodes exited with {codes}:\n{outputs}"
        assert "Traceback" not in outputs and "terminate called" not in outputs, outputs


def _pair(seed: int, x_shape: tuple[int, ...] = (H, W)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, x_shape, dtype=np.uint8)


def _ready(harness, publishers, topics, node):
    assert harness.wait_for_subscribers(publishers, 90), f"node never subscribed:\n{node.output}"
    assert harness.wait_for_publishers(topics, 30), f"node never advertised {topics}:\n{node.output}"


@pytest.mark.ros
@pytest.mark.slow
def test_100_jittered_pairs_give_the_segmenters_labels(graph, segmenter):
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String

    from rxssnet_core.visualization import colorize

    harness, node, _, _ = graph
    rgb_pub = harness.publisher("/seg_a/cam/rgb")
    x_pub = harness.publisher("/seg_a/cam/x")
    info_pub = harness.publisher("/seg_a/cam/rgb_info", CameraInfo)
    labels = harness.collect("/seg_a/segment_node/labels")
    colored = harness.collect("/seg_a/segment_node/colored")
    overlay = harness.collect("/seg_a/segment_node/overlay")
    confidence = harness.collect("/seg_a/segment_node/confidence")
    infos = harness.collect("/seg_a/segment_node/camera_info", CameraInfo)
    timings = harness.collect("/seg_a/segment_node/frame_timing", String)
    _ready(harness, [rgb_pub, x_pub, info_pub], ["/seg_a/segment_node/labels"], node)
    info_pub.publish(CameraInfo(height=H, width=W, distortion_model="plumb_bob", k=[50.0, 0, 40, 0, 50, 32, 0, 0, 1]))

    rng = random.Random(6)
    pairs, stamps, x_stamps = {}, [], {}
    for k in range(FRAMES):
        rgb, x = _pair(k)
        stamp = START_NS + k * 100 * MS
        jitter = rng.randint(-20, 20) * MS
        rgb_msg, x_msg = image_msg(rgb, "rgb8", stamp), image_msg(x, "mono8", stamp + jitter)
        if k % 2:
            rgb_pub.publish(rgb_msg)
            x_pub.publish(x_msg)
        else:
            x_pub.publish(x_msg)
            rgb_pub.publish(rgb_msg)
        pairs[stamp] = (rgb, x)
        x_stamps[stamp] = stamp + jitter
        stamps.append(stamp)
        # Closed loop (the next pair after this one's labels): the worker never has to drop a pair.
        assert labels.wait_for(lambda msgs, s=stamp: any(
            stamp_ns(m.header.stamp) == s for m in msgs), 30), \
            f"no labels for pair {k}:\n{node.output[-3000:]}"

    received = labels.by_stamp()
    assert set(received) == set(stamps), "one label image per pair, with the RGB image's stamp"
    assert len(labels.messages) == FRAMES
    with torch_threads(1):
        for stamp in stamps[:FRAMES]:
            rgb, x = pairs[stamp]
            expected = segmenter.segment(rgb, x).labels
            msg = received[stamp]
            assert msg.encoding == "mono8" and (msg.height, msg.width) == (H, W)
            np.testing.assert_array_equal(image_to_numpy(msg), expected, err_msg=f"pair {stamps.index(stamp)}")
        # Mis-pairing would show: the model's labels depend on which X goes with an RGB image.
        rgb0, x0 = pairs[stamps[0]]
        assert not np.array_equal(segmenter.segment(rgb0, pairs[stamps[1]][1]).labels,
                                  segmenter.segment(rgb0, x0).labels)

    last = stamps[FRAMES - 1]
    # Colours are computed only for subscribed outputs: the node may discover our subscriptions a few frames late.
    assert colored.wait_for(lambda m: last in colored.by_stamp() and len(colored.by_stamp()) >= FRAMES - 10, 10)
    assert overlay.wait_for(lambda m: last in overlay.by_stamp() and len(overlay.by_stamp()) >= FRAMES - 10, 10)
    assert confidence.wait_for(lambda m: last in confidence.by_stamp(), 10)
    expected_last = image_to_numpy(received[last])
    np.testing.assert_array_equal(image_to_numpy(colored.by_stamp()[last]),
                                  colorize(expected_last, segmenter.palette))
    conf = confidence.by_stamp()[last]
    assert conf.encoding == "32FC1"
    conf_array = image_to_numpy(conf)
    assert conf_array.shape == (H, W) and np.all((conf_array >= 1.0 / 5 - 1e-6) & (conf_array <= 1.0 + 1e-6))
    assert isinstance(overlay.by_stamp()[last], Image) and overlay.by_stamp()[last].encoding == "rgb8"
    # ~/frame_timing: one JSON per output while subscribed, naming the pair and where its time went
    assert timings.wait_for(lambda m: len(m) >= FRAMES - 10, 10)
    for record in (json.loads(m.data) for m in timings.messages):
        assert record["x_stamp_ns"] == x_stamps[record["stamp_ns"]]  # the X image it was paired with
        assert record["inference_ms"] > 0 and record["pair_wait_ms"] >= 0 and record["queue_wait_ms"] >= 0
        assert record["node_total_ms"] >= record["pair_wait_ms"] + record["inference_ms"]
    assert infos.wait_for(lambda m: last in infos.by_stamp(), 10), "camera_info must follow the labels"
    info = infos.by_stamp()[last]
    assert (info.height, info.width) == (H, W) and info.k[0] == 50.0


@pytest.mark.ros
@pytest.mark.slow
def test_overlay_alpha_and_shown_classes_change_at_run_time(graph, segmenter):
    from rxssnet_core.visualization import colorize, overlay

    harness, node, _, _ = graph
    rgb_pub = harness.publisher("/seg_a/cam/rgb")
    x_pub = harness.publisher("/seg_a/cam/x")
    colored = harness.collect("/seg_a/segment_node/colored")
    overlays = harness.collect("/seg_a/segment_node/overlay")
    _ready(harness, [rgb_pub, x_pub], ["/seg_a/segment_node/overlay"], node)

    results = harness.set_parameters("/seg_a/segment_node", {"overlay_alpha": 1.5})
    assert not results[0].successful and "overlay_alpha" in results[0].reason
    results = harness.set_parameters("/seg_a/segment_node", {"shown_classes": [1, 99]})
    assert not results[0].successful and "99" in results[0].reason
    results = harness.set_parameters("/seg_a/segment_node", {"slop": 0.2})
    assert not results[0].successful and "read-only" in results[0].reason
    results = harness.set_parameters("/seg_a/segment_node", {"overlay_alpha": 0.25, "shown_classes": [1, 3]})
    assert all(r.successful for r in results), results

    rgb, x = _pair(1234)
    for attempt in range(30):  # until the node has discovered these new subscriptions (lazy outputs)
        stamp = START_NS + (10_000 + attempt * 100) * MS
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        x_pub.publish(image_msg(x, "mono8", stamp))
        if overlays.wait_for(lambda m, s=stamp: s in overlays.by_stamp(), 2) and \
                colored.wait_for(lambda m, s=stamp: s in colored.by_stamp(), 2):
            break
    else:
        pytest.fail(f"no overlay and colored image for one pair:\n{node.output[-2000:]}")
    with torch_threads(1):
        labels = segmenter.segment(rgb, x).labels
    np.testing.assert_array_equal(image_to_numpy(overlays.by_stamp()[stamp]),
                                  overlay(rgb, labels, segmenter.palette, 0.25, [1, 3]))
    np.testing.assert_array_equal(image_to_numpy(colored.by_stamp()[stamp]),
                                  colorize(labels, segmenter.palette, [1, 3]))
    harness.set_parameters("/seg_a/segment_node", {"overlay_alpha": 0.5, "shown_classes": []})


@pytest.mark.ros
@pytest.mark.slow
def test_diagnostics_report_rates_latency_backend_and_model(graph):
    harness, node, _, _ = graph
    assert harness.diagnostics.wait_for(
        lambda msgs: any(diagnostic_values(m, "/seg_a/segment_node") for m in msgs), 20), node.output[-2000:]
    statuses = [s for m in list(harness.diagnostics.messages) for s in diagnostic_values(m, "/seg_a/segment_node")]
    values = statuses[-1][2]
    assert values["backend"] == "torch" and values["model"] == "rxssnet-atto"
    for key in ("rgb_rate_hz", "x_rate_hz", "pair_rate_hz", "output_rate_hz", "latency_mean_ms", "latency_p99_ms",
                "segment_mean_ms", "dropped_while_busy", "bad_inputs"):
        assert key in values, key
    assert int(values["outputs"]) >= FRAMES
    assert float(values["latency_mean_ms"]) > 0


@pytest.mark.ros
@pytest.mark.slow
def test_resize_alignment_end_to_end(graph, segmenter):
    from rxssnet_core.alignment import AlignmentConfig, XAligner

    harness, _, node, _ = graph
    rgb_pub = harness.publisher("/seg_b/segment_node/rgb/image")
    x_pub = harness.publisher("/seg_b/segment_node/x/image")
    labels = harness.collect("/seg_b/segment_node/labels")
    aligned = harness.collect("/seg_b/segment_node/x_aligned")
    _ready(harness, [rgb_pub, x_pub], ["/seg_b/segment_node/labels", "/seg_b/segment_node/x_aligned"], node)
    aligner = XAligner(AlignmentConfig(mode="resize", modality="thermal"))
    sent = {}
    for k in range(3):
        rgb, x = _pair(500 + k, (H // 2, W // 2))
        stamp = START_NS + (20_000 + k * 100) * MS
        # X first: node B has seen no X for longer than x_timeout, so an RGB image handled before the X stream
        # is back would be segmented RGB-only (x_missing_policy: rgb_only).
        x_pub.publish(image_msg(x, "mono8", stamp))
        time.sleep(0.3 if k == 0 else 0.0)
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        sent[stamp] = (rgb, x)
        assert labels.wait_for(lambda m, s=stamp: s in labels.by_stamp(), 30), node.output[-3000:]
    with torch_threads(1):
        for stamp, (rgb, x) in sent.items():
            expected = segmenter.segment(rgb, aligner.align(x, (H, W))).labels
            np.testing.assert_array_equal(image_to_numpy(labels.by_stamp()[stamp]), expected)
    last = max(sent)
    assert aligned.wait_for(lambda m: last in aligned.by_stamp(), 10), "debug_outputs publishes ~/x_aligned"
    x_msg = aligned.by_stamp()[last]
    assert x_msg.encoding == "8UC1" and (x_msg.height, x_msg.width) == (H, W)
    np.testing.assert_array_equal(image_to_numpy(x_msg), aligner.align(sent[last][1], (H, W)))


@pytest.mark.ros
@pytest.mark.slow
def test_rgb_only_when_x_is_silent_marks_output_degraded(graph, segmenter):
    harness, _, node, _ = graph
    rgb_pub = harness.publisher("/seg_b/segment_node/rgb/image")
    labels = harness.collect("/seg_b/segment_node/labels")
    _ready(harness, [rgb_pub], ["/seg_b/segment_node/labels"], node)
    time.sleep(1.2)  # longer than x_timeout since the last X image of the previous test
    sent = {}
    for k in range(3):
        rgb, _ = _pair(900 + k)
        stamp = START_NS + (30_000 + k * 100) * MS
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        sent[stamp] = rgb
        assert labels.wait_for(lambda m, s=stamp: s in labels.by_stamp(), 30), node.output[-3000:]
    with torch_threads(1):
        for stamp, rgb in sent.items():
            np.testing.assert_array_equal(image_to_numpy(labels.by_stamp()[stamp]), segmenter.segment(rgb, None).labels)
    harness.diagnostics.clear()
    rgb_pub.publish(image_msg(_pair(999)[0], "rgb8", START_NS + 31_000 * MS))
    assert harness.diagnostics.wait_for(lambda msgs: any(
        v.get("degraded") == "True" and "silent" in msg
        for m in msgs for _, msg, v in diagnostic_values(m, "/seg_b/segment_node")), 10), node.output[-2000:]
    statuses = [s for m in harness.diagnostics.messages for s in diagnostic_values(m, "/seg_b/segment_node")]
    level, message, _ = next(s for s in statuses if "silent" in s[1])
    assert level == 1 and "DEGRADED" in message and "/seg_b/segment_node/x/image" in message


def _param(node: NodeProcess, name: str) -> str:
    """The value a NodeProcess was started with for parameter `name`."""
    for arg in node.args:
        if arg.startswith(f"{name}:="):
            return arg.split(":=", 1)[1]
    raise KeyError(name)


@pytest.mark.ros
@pytest.mark.slow
def test_depth_alignment_with_camera_infos_and_labelled_points(graph):
    from sensor_msgs.msg import CameraInfo, PointCloud2

    from rxssnet_core import Segmenter
    from rxssnet_core.alignment import AlignmentConfig, XAligner
    from rxssnet_core.camera_geometry import CameraModel
    from rxssnet_core.pointcloud import labeled_points

    harness, _, _, node = graph
    base = "/seg_c/segment_node"
    rgb_pub, x_pub = harness.publisher(f"{base}/rgb/image"), harness.publisher(f"{base}/x/image")
    rgb_info_pub = harness.publisher(f"{base}/rgb/camera_info", CameraInfo)
    x_info_pub = harness.publisher(f"{base}/x/camera_info", CameraInfo)
    labels, points = harness.collect(f"{base}/labels"), harness.collect(f"{base}/points", PointCloud2)
    aligned = harness.collect(f"{base}/x_aligned")
    _ready(harness, [rgb_pub, x_pub, rgb_info_pub, x_info_pub], [f"{base}/labels", f"{base}/points"], node)

    k_rgb = [60.0, 0.0, 39.5, 0.0, 60.0, 31.5, 0.0, 0.0, 1.0]
    k_depth = [50.0, 0.0, 40.0, 0.0, 50.0, 32.0, 0.0, 0.0, 1.0]  # another lens: registration moves pixels
    rng = np.random.default_rng(77)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = rng.integers(800, 4000, (H, W), dtype=np.uint16)
    depth[:5] = 0  # no measurement
    stamp = START_NS + 40_000 * MS
    rgb_info = CameraInfo(height=H, width=W, distortion_model="plumb_bob", d=[0.0] * 5, k=k_rgb)
    rgb_info_pub.publish(rgb_info)
    time.sleep(0.5)  # the node keeps the latest RGB camera_info; the X camera_info is synchronized per frame
    for _ in range(3):
        stamp += 100 * MS
        x_info = CameraInfo(height=H, width=W, distortion_model="plumb_bob", d=[0.0] * 5, k=k_depth)
        x_info.header = image_msg(rgb, "rgb8", stamp).header
        x_info_pub.publish(x_info)
        x_pub.publish(image_msg(depth, "mono16", stamp))
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
        if points.wait_for(lambda m, s=stamp: any(
                stamp_ns(p.header.stamp) == s for p in m), 15):
            break
    else:
        pytest.fail(f"no ~/points from the depth node:\n{node.output[-3000:]}")

    rgb_camera = CameraModel(K=k_rgb, D=[0.0] * 5, distortion_model="plumb_bob", width=W, height=H)
    x_camera = CameraModel(K=k_depth, D=[0.0] * 5, distortion_model="plumb_bob", width=W, height=H)
    aligner = XAligner(AlignmentConfig(mode="depth", modality="depth", extrinsic_rotation=np.eye(3),
                                       extrinsic_translation=np.zeros(3)))
    registered = aligner.align(depth, (H, W), rgb_camera, x_camera)
    assert not np.array_equal(registered, depth), "different intrinsics must move the depth pixels"
    assert labels.wait_for(lambda m: stamp in labels.by_stamp(), 10)
    assert aligned.wait_for(lambda m: stamp in aligned.by_stamp(), 10)
    np.testing.assert_array_equal(image_to_numpy(aligned.by_stamp()[stamp]), registered)
    with torch_threads(1):
        expected = Segmenter.from_checkpoint(_param(node, "checkpoint")).segment(rgb, registered).labels
    np.testing.assert_array_equal(image_to_numpy(labels.by_stamp()[stamp]), expected)
    cloud = next(p for p in points.messages if stamp_ns(p.header.stamp) == stamp)
    reference = labeled_points(registered, expected, rgb, rgb_camera, 4, depth_scale_m=0.001)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "label"]
    assert cloud.width == len(reference) > 0 and cloud.height == 1
    decoded = np.frombuffer(bytes(cloud.data), dtype=np.dtype({
        "names": ["x", "y", "z", "label"], "formats": ["<f4", "<f4", "<f4", "<u2"], "offsets": [0, 4, 8, 16],
        "itemsize": cloud.point_step}))
    np.testing.assert_allclose(decoded["z"], reference["z"])
    np.testing.assert_array_equal(decoded["label"], reference["label"])


# -- the node's pieces without ROS: the latest-only worker and the throttled log ------------------------------------
def test_worker_keeps_only_the_latest_waiting_job():
    import threading

    from rxssnet_ros.inference_worker import InferenceWorker

    release, started, done = threading.Event(), threading.Event(), []

    def process(job):
        if job == 0:
            started.set()
            release.wait(10)
        done.append(job)

    worker = InferenceWorker(process).start()
    worker.submit(0)
    assert started.wait(10)
    replaced = [worker.submit(job) for job in range(1, 50)]  # arrive while job 0 runs
    assert replaced == [False] + [True] * 48, "each new job replaces the waiting one"
    release.set()
    assert worker.wait_idle(10)
    assert done == [0, 49] and worker.dropped == 48 and worker.processed == 2
    assert worker.stop(5)


def test_worker_survives_failing_jobs():
    from rxssnet_ros.inference_worker import InferenceWorker

    errors, done = [], []

    def process(job):
        if job == "bad":
            raise ValueError("broken frame")
        done.append(job)

    worker = InferenceWorker(process, lambda job, error: errors.append((job, str(error)))).start()
    for job in ("bad", "good"):
        worker.submit(job)
        assert worker.wait_idle(10)
    assert errors == [("bad", "broken frame")] and done == ["good"] and worker.failed == 1
    assert worker.stop(5) and not worker.submit("late")


def test_throttled_log_is_keyed_by_cause_and_counts_what_it_held_back():
    from rxssnet_ros.diagnostics import LatencyStats, RateMeter, ThrottledLog

    throttle = ThrottledLog(5.0)
    assert throttle("rgb:step", "bad step", now=0.0) == "bad step"
    assert throttle("rgb:step", "bad step", now=1.0) is None
    assert throttle("x:truncated", "truncated", now=1.5) == "truncated", "another cause is not held back"
    assert throttle("rgb:step", "bad step", now=2.0) is None
    assert throttle("rgb:step", "bad step", now=5.5) == "bad step (2 more like this in the last 5 s)"
    meter = RateMeter(window_s=2.0)
    for k in range(20):
        meter.tick(now=meter._created + 1.0 + k * 0.1)
    assert meter.rate(now=meter._created + 3.0) == pytest.approx(10.0)
    assert meter.age(now=meter._created + 3.0) == pytest.approx(0.1)
    stats = LatencyStats()
    for value in range(1, 101):
        stats.add(value)
    summary = stats.summary()
    # numpy's default percentile (linear between closest ranks), the one every benchmark uses
    assert summary["p50"] == pytest.approx(np.percentile(np.arange(1, 101), 50)) == 50.5
    assert summary["p99"] == pytest.approx(np.percentile(np.arange(1, 101), 99)) and summary["max"] == 100


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("gap_s", [0.3, 1.0])
def test_second_sigint_during_interpreter_exit_does_not_kill_the_node(tiny_checkpoint, gap_s):
    # Python resets signal handlers while it finalizes; a second Ctrl-C then used to kill the node (-2).
    node = NodeProcess({"checkpoint": str(tiny_checkpoint)}, ros_child_env(), namespace="/sigint")
    try:
        assert node.wait_for_line("segmenting", 60), node.output
        node.proc.send_signal(signal.SIGINT)
        time.sleep(gap_s)
        with contextlib.suppress(ProcessLookupError):
            node.proc.send_signal(signal.SIGINT)
        assert node.stop() == 0, node.output
    finally:
        node.stop()
