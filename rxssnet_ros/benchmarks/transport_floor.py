# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The transport floor: what ANY rclpy node pays to take a camera image in and put a label image out.

A relay node stands where segment_node stands in `node_latency`'s per-frame part, fed by the same probe with the
same free-running cameras, QoS, Fast DDS profile and loopback discovery. It does nothing a segmentation node
could skip: it takes each RGB image as serialized bytes (no conversion to a Python message) and republishes a
pre-serialized mono8 image stamped with the RGB image's stamp, of the size segment_node's labels have (the camera's,
or with `output_resolution: network` the letterbox's content: `--label-size`). Its publish -> labels
received time is the transport alone: the camera's publish, DDS both ways (64 KiB fragments: discovery on
localhost adds a UDP transport, and Fast DDS fragments for the smallest transport), the reader's reassembly,
and the thread wake-ups. What segment_node adds beyond this floor is the node's own work.

    python -m rxssnet_ros.benchmarks.transport_floor --namespace /floor --height 1080 --width 1920 --seconds 30 \
        [--label-size 360x640]

runs the relay alone (until --seconds or Ctrl-C); `floor_run` starts it in its own process and times it.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image

from rxssnet_core.inference.model_files import parse_size
from rxssnet_core.percentiles import percentile
from rxssnet_ros.benchmarks.node_process import Probe, play_camera_streams
from rxssnet_ros.image_conversion import array_to_image
from rxssnet_ros.node_runner import keep_frame_memory_mapped

RELAY_NAME = "transport_floor_relay"
# Little-endian plain CDR (XCDR1), what rmw_fastrtps and rmw_cyclonedds write for sensor_msgs/Image: the header's
# stamp (int32 sec, uint32 nanosec) follows the 4-byte encapsulation header directly.
CDR_LE = b"\x00\x01"
STAMP_BYTES = slice(4, 12)


class Relay:
    """RGB bytes in, a pre-serialized mono8 image of `label_size` (H, W) out with the RGB image's stamp."""

    def __init__(self, node: Any, label_size: tuple[int, int]) -> None:
        template = array_to_image(np.zeros(label_size, np.uint8), "mono8")
        template.header.frame_id = "camera"
        self.template = bytearray(serialize_message(template))
        self.plain_cdr = bytes(self.template[:2]) == CDR_LE
        self.publisher = node.create_publisher(Image, "~/labels", 10)
        self.relayed = 0
        self._keep = [node.create_subscription(Image, "~/rgb/image", self.on_rgb, qos_profile_sensor_data, raw=True),
                      node.create_subscription(Image, "~/x/image", lambda raw: None, qos_profile_sensor_data,
                                               raw=True)]

    def on_rgb(self, raw: bytes) -> None:
        if self.plain_cdr and raw[:2] == CDR_LE:
            out = bytearray(self.template)
            out[STAMP_BYTES] = raw[STAMP_BYTES]
        else:  # another encapsulation (e.g. XCDR2 with a size header first): the stamp by the real deserializer
            stamp = deserialize_message(raw, Image).header.stamp
            message = deserialize_message(bytes(self.template), Image)
            message.header.stamp = stamp
            out = bytearray(serialize_message(message))
        self.publisher.publish(bytes(out))
        self.relayed += 1


def relay_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxssnet_ros.benchmarks.transport_floor",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespace", default="/transport_floor")
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--label-size", metavar="HxW", default=None,
                        help="size of the label image it sends back (default: the camera's, --height x --width)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long (default 1 h)")
    args = parser.parse_args(argv)
    if args.height < 1 or args.width < 1 or args.seconds <= 0:
        parser.error("--height, --width and --seconds must be positive")
    try:
        label_size = parse_size(args.label_size, "--label-size")
    except ValueError as error:
        parser.error(str(error))
    keep_frame_memory_mapped()  # as segment_node does: frame-sized buffers stay mapped
    rclpy.init()
    node = rclpy.create_node(RELAY_NAME, namespace=args.namespace)
    relay = Relay(node, label_size or (args.height, args.width))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    stop.wait(args.seconds)
    executor.shutdown()
    thread.join(10)
    node.destroy_node()
    rclpy.try_shutdown()
    print(f"relayed {relay.relayed} images")
    return 0


def floor_run(env: dict[str, str], height: int, width: int, seconds: float,
              label_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The relay in its own process, fed `seconds` of the per-frame part's cameras, sending back label images of
    `label_size` (H, W; default the camera's); publish -> labels latency, and the label sizes received.
    """
    namespace = "/transport_floor"
    label_height, label_width = label_size or (height, width)
    process = subprocess.Popen([sys.executable, "-m", "rxssnet_ros.benchmarks.transport_floor", "--namespace",
                                namespace, "--height", str(height), "--width", str(width), "--label-size",
                                f"{label_height}x{label_width}"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    probe = Probe(namespace, RELAY_NAME)
    try:
        if not probe.wait_connected(60):
            raise RuntimeError("the transport-floor relay did not come up")
        time.sleep(0.5)
        play_camera_streams(probe, height, width, seconds, desc=f"transport floor {width}x{height}")
        time.sleep(2.0)
        latencies = probe.latencies_ms()
        sent = len(probe.sent)
        label_sizes = sorted(probe.label_sizes)
    finally:
        probe.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return {"rgb_sent": sent, "relayed": len(latencies), "floor_label_sizes": label_sizes,
            **{f"floor_p{q}_ms": percentile(latencies, q) for q in (50, 90, 99)}}


if __name__ == "__main__":
    sys.exit(relay_main())
