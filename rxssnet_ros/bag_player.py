# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Plays a rosbag2 into a live ROS 2 graph: our stand-in for `ros2 bag play` where rosbag2 is not installed.

Messages are published as they were recorded (CDR bytes, no conversion), on their recorded topics or remapped
ones, keeping the recorded time offsets scaled by `rate`. Reads sqlite3 and mcap bags with `rosbags`. As
`ros2 bag play`: `--clock [HZ]` publishes the bag's recorded time on /clock (for nodes with use_sim_time:=true)
and `--loop` plays the bag again and again (each play's stamps, and /clock, go back to the bag's start).

    python -m rxssnet_ros.bag_player BAG [--rate 1.0] [--topics /a /b] [--remap /a:=/b] [--qos reliable]
        [--clock [40]] [--loop | --plays N] [--ack-timeout 10]
"""

from __future__ import annotations

import argparse
import importlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Reader
from rosgraph_msgs.msg import Clock

from rxssnet_core.errors import RXSSNetError
from rxssnet_ros.ros_time import time_fields

DEFAULT_CLOCK_HZ = 40.0  # ros2 bag play --clock's default


class BagPlayError(RXSSNetError, ValueError):
    """A bag cannot be played as asked; the message names the bag or topic."""


@dataclass
class PlayStats:
    published: dict[str, int]
    duration_s: float


def _message_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as error:
        raise BagPlayError(f"message type {msgtype} is not installed in this ROS 2 environment") from error


def parse_remaps(remaps: Iterable[str]) -> dict[str, str]:
    """['/a:=/b'] -> {'/a': '/b'}."""
    mapping = {}
    for remap in remaps:
        if ":=" not in remap:
            raise BagPlayError(f"remap {remap!r} must look like /recorded/topic:=/new/topic")
        source, target = remap.split(":=", 1)
        mapping[source] = target
    return mapping


def play_bag(node: Any, bag: str | Path, topics: Sequence[str] | None = None, remap: Mapping[str, str] | None = None,
             rate: float = 1.0, qos_depth: int = 100, reliable: bool = True,
             stop: threading.Event | None = None, on_message: Callable[[str, int], None] | None = None,
             wait_for_subscribers_s: float = 0.0, require_subscriber: bool = False, clock_hz: float = 0.0,
             plays: int = 1) -> PlayStats:
    """Publishes the bag's messages from `node` (an rclpy Node); returns per-topic counts (all plays).

    Blocks until the bag ends (`plays` times; 0: until `stop`) or `stop` is set. Topics default to all in the bag.
    With `wait_for_subscribers_s` the first message waits (up to that long) until every topic's publisher has
    matched the subscribers the graph lists: a message published before discovery has matched is lost even over
    reliable QoS. clock_hz > 0 publishes the recorded time on /clock at that rate (and with every message).
    A process that exits right after this (the command line) should `wait_for_acknowledgements` first.
    """
    if rate <= 0:
        raise BagPlayError(f"rate must be > 0, got {rate}")
    remap = dict(remap or {})
    bag = Path(bag)
    if not bag.exists():
        raise BagPlayError(f"bag {bag} does not exist")
    qos = QoSProfile(depth=qos_depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                     else ReliabilityPolicy.BEST_EFFORT)
    counts: dict[str, int] = {}
    try:
        reader_cm = Reader(bag)
    except Exception as error:  # rosbags raises several types for unreadable bags
        raise BagPlayError(f"{bag} is not a readable rosbag2: {error}") from error
    with reader_cm as reader:
        available = {c.topic: c.msgtype for c in reader.connections}
        wanted = list(topics) if topics else list(available)
        unknown = [t for t in wanted if t not in available]
        if unknown:
            raise BagPlayError(f"topic(s) {unknown} are not in {bag}; it has {sorted(available)}")
        publishers = {topic: node.create_publisher(_message_class(available[topic]), remap.get(topic, topic), qos)
                      for topic in wanted}
        connections = [c for c in reader.connections if c.topic in publishers]
        if wait_for_subscribers_s > 0:
            wait_for_subscribers(node, publishers.values(), wait_for_subscribers_s, stop, require_subscriber)
        clock = node.create_publisher(Clock, "/clock", 10) if clock_hz > 0 else None
        start_wall = time.monotonic()
        play = 0
        while (plays <= 0 or play < plays) and not (stop is not None and stop.is_set()):
            play += 1
            _play_once(reader, connections, publishers, counts, rate, stop, on_message, clock, clock_hz)
    return PlayStats(published=counts, duration_s=time.monotonic() - start_wall)


def wait_for_acknowledgements(node: Any, topics: Iterable[str], timeout_s: float) -> list[str]:
    """Wait (up to `timeout_s` in all) until every reliable reader has acknowledged every message that `node`'s
    publishers of `topics` sent, as `ros2 bag play --wait-for-all-acked` does; returns the topics still waiting.

    Why: a publisher destroyed (its process exiting) before its readers acknowledged loses the last messages on a
    busy machine, even over reliable QoS. Best-effort readers never acknowledge and are not waited for.
    """
    wanted = set(topics)
    deadline = time.monotonic() + timeout_s
    waiting = []
    for publisher in node.publishers:
        if publisher.topic_name not in wanted:
            continue
        left = max(deadline - time.monotonic(), 0.001)
        if not publisher.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
            waiting.append(publisher.topic_name)
    return waiting


def _play_once(reader: Any, connections: list[Any], publishers: dict[str, Any], counts: dict[str, int],
               rate: float, stop: threading.Event | None, on_message: Callable[[str, int], None] | None,
               clock: Any, clock_hz: float) -> None:
    """One pass over the bag, in recorded time scaled by `rate`; /clock follows it when `clock` is given."""
    start_wall = time.monotonic()
    first_stamp = None
    for connection, timestamp, rawdata in reader.messages(connections=connections):
        if stop is not None and stop.is_set():
            return
        if first_stamp is None:
            first_stamp = timestamp
        due = start_wall + (timestamp - first_stamp) / 1e9 / rate
        while (delay := due - time.monotonic()) > 0:
            step = min(delay, 1.0 / clock_hz) if clock is not None else delay
            if stop is not None and stop.wait(step):
                return
            if stop is None:
                time.sleep(step)
            if clock is not None:  # the recorded time now, between two messages
                now = first_stamp + round((time.monotonic() - start_wall) * rate * 1e9)
                clock.publish(Clock(clock=time_fields_msg(min(now, timestamp))))
        if clock is not None:
            clock.publish(Clock(clock=time_fields_msg(timestamp)))
        # rclpy publishes serialized CDR as is: the bag's bytes go out untouched.
        publishers[connection.topic].publish(bytes(rawdata))
        counts[connection.topic] = counts.get(connection.topic, 0) + 1
        if on_message is not None:
            on_message(connection.topic, timestamp)


def time_fields_msg(nanoseconds: int) -> Any:
    """builtin_interfaces/Time of a time in ns."""
    return TimeMsg(**time_fields(nanoseconds))


def wait_for_subscribers(node: Any, publishers: Iterable[Any], timeout_s: float, stop: threading.Event | None = None,
                         require_subscriber: bool = False) -> bool:
    """Waits until every publisher has matched every subscription that the ROS graph lists on its topic (and at
    least one with `require_subscriber`: a fresh process's graph may not list them yet), at most `timeout_s`; True
    when they all have.
    """
    deadline = time.monotonic() + max(timeout_s, 0.0)
    publishers = list(publishers)
    least = 1 if require_subscriber else 0
    while not all(publisher.get_subscription_count() >= max(least, node.count_subscribers(publisher.topic_name))
                  for publisher in publishers):
        if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            return False
        time.sleep(0.05)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bag", help="rosbag2 folder (mcap or sqlite3)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    parser.add_argument("--topics", nargs="*", default=None, help="topics to play (default: all)")
    parser.add_argument("--remap", nargs="*", default=[], help="remaps /recorded:=/published")
    parser.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable")
    parser.add_argument("--delay", type=float, default=5.0,
                        help="wait up to this many seconds for each topic's publisher to match a subscriber "
                             "(every one the graph lists) before playing (default 5)")
    parser.add_argument("--clock", nargs="?", type=float, const=DEFAULT_CLOCK_HZ, default=0.0, metavar="HZ",
                        help="publish the recorded time on /clock at HZ (default 40 when given), as ros2 bag play "
                             "--clock does, for nodes with use_sim_time:=true")
    parser.add_argument("--ack-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="with reliable QoS, wait at the end up to this long until every subscriber has "
                             "acknowledged every message, as ros2 bag play --wait-for-all-acked does (default 10; "
                             "0: exit at once, and a busy subscriber may lose the last messages)")
    repeat = parser.add_mutually_exclusive_group()
    repeat.add_argument("--loop", action="store_true", help="play the bag again and again until Ctrl-C")
    repeat.add_argument("--plays", type=int, default=1, metavar="N", help="play the bag N times (default 1)")
    args = parser.parse_args(argv)
    if args.clock < 0 or args.plays < 1 or args.ack_timeout < 0:
        parser.error("--clock must be > 0 Hz, --plays at least 1 and --ack-timeout at least 0")
    rclpy.init()
    node = rclpy.create_node("rxssnet_bag_player")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    stop = threading.Event()
    try:
        remaps = parse_remaps(args.remap)
        stats = play_bag(node, args.bag, args.topics, remaps, args.rate,
                         reliable=args.qos == "reliable", stop=stop, wait_for_subscribers_s=args.delay,
                         require_subscriber=True, clock_hz=args.clock, plays=0 if args.loop else args.plays)
        for topic, count in sorted(stats.published.items()):
            print(f"{topic}: {count} messages")
        played = [remaps.get(topic, topic) for topic in stats.published]
        waiting = wait_for_acknowledgements(node, played, args.ack_timeout) \
            if args.qos == "reliable" and args.ack_timeout > 0 else []
        for topic in waiting:
            print(f"bag_player: warning: {topic}: not every subscriber acknowledged every message within "
                  f"--ack-timeout {args.ack_timeout:g} s; a slow subscriber may have lost the last ones")
        return 0
    except BagPlayError as error:
        print(f"bag_player: error: {error}")
        return 2
    except KeyboardInterrupt:
        stop.set()
        return 130
    finally:
        executor.shutdown()
        spin.join(timeout=5)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
