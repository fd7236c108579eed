# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ApproximateTimePairer reproduces message_filters' ApproximateTime policy.

The table cases are the scenarios of message_filters' own test suite (test/test_approximate_time_policy.cpp:
exact, perfect and imperfect matches, acceleration, dropped messages with queue sizes 1 and 2, a long queue,
double publish, four topics, early publish and inter-message rate bounds), with the sets that suite expects.
"""

from __future__ import annotations

import random
import threading
import time
from types import SimpleNamespace

import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from rxssnet_ros.ros_time import seconds_to_ns, stamp_ns, time_fields
from rxssnet_ros.synchronizer import (
    ApproximateTimePairer,
    FilterOutput,
    GateFilter,
    PairingFilter,
    PairingRule,
    SubscriberFilter,
)

S = 1_000_000_000  # the reference cases use whole seconds
MS = 1_000_000
UNBOUNDED = 10**18  # message_filters' default max interval duration is practically infinite


def run(inputs, num_streams=2, queue_size=10, slop_ns=UNBOUNDED, bounds=None):
    out = []
    pairer = ApproximateTimePairer(num_streams, queue_size, slop_ns, lambda *items: out.append(tuple(items)),
                                   inter_message_lower_bounds_ns=bounds)
    for seconds, stream in inputs:
        pairer.add(stream, seconds * S, seconds)
    return out, pairer


REFERENCE_CASES = {
    # name: (inputs [(t, stream)], queue size, expected sets)
    "exact_match": ([(0, 0), (0, 1), (3, 0), (3, 1), (6, 0), (6, 1)], 10, [(0, 0), (3, 3), (6, 6)]),
    "perfect_match": ([(0, 0), (1, 1), (3, 0), (4, 1), (6, 0), (7, 1)], 10, [(0, 1), (3, 4)]),
    "imperfect_match": ([(0, 0), (1, 1), (2, 0), (3, 0), (5, 1), (6, 0), (7, 1)], 10, [(0, 1), (6, 5)]),
    "acceleration": ([(0, 0), (7, 1), (12, 0), (15, 1), (17, 0), (18, 1)], 10, [(12, 7), (17, 18)]),
    "dropped_messages_queue_1": ([(0, 0), (1, 1), (3, 1), (4, 0), (7, 1), (8, 0), (10, 0), (11, 1), (13, 0),
                                  (14, 1)], 1, [(4, 3), (10, 11)]),
    "dropped_messages_queue_2": ([(0, 0), (1, 1), (3, 1), (4, 0), (7, 1), (8, 0), (10, 0), (11, 1), (13, 0),
                                  (14, 1)], 2, [(0, 1), (4, 3), (8, 7), (10, 11)]),
    "long_queue": ([(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (3, 1), (9, 0),
                    (10, 0), (11, 0), (12, 0), (10, 1), (13, 0)], 5, [(10, 10)]),
    "double_publish": ([(0, 0), (1, 1), (3, 1), (3, 0)], 10, [(0, 1), (3, 3)]),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_CASES))
def test_message_filters_reference_cases(name):
    inputs, queue_size, expected = REFERENCE_CASES[name]
    out, _ = run(inputs, queue_size=queue_size)
    assert out == expected


def test_four_topics_and_early_publish():
    inputs = [(0, 0), (1, 1), (2, 2), (3, 3), (5, 0), (5, 3), (6, 1), (6, 2), (8, 0), (9, 1), (10, 2), (11, 3),
              (10, 0), (13, 0), (14, 1)]
    # (10, 0) after (8, 0) is in order for stream 0; message_filters' expected output is the same
    out, _ = run(inputs, num_streams=4)
    assert out == [(0, 1, 2, 3), (5, 6, 6, 5), (10, 9, 10, 11)]
    out, _ = run([(0, 0), (1, 1), (2, 2), (3, 3), (7, 0)], num_streams=4)
    assert out == [(0, 1, 2, 3)]


@pytest.mark.parametrize("bound,expected", [(1.5, [(0, 1), (3, 4)]), (2.0, [(0, 1), (3, 4), (6, 7)])])
def test_inter_message_lower_bound_publishes_early(bound, expected):
    inputs = [(0, 0), (1, 1), (3, 0), (4, 1), (6, 0), (7, 1)]
    out, _ = run(inputs, bounds=[int(bound * S), 0])
    assert out == expected


def test_jittered_streams_pair_each_frame_with_its_partner():
    rng = random.Random(3)
    out = []
    pairer = ApproximateTimePairer(2, 10, 50 * MS, lambda a, b: out.append((a, b)))
    for k in range(200):
        stamp = k * 100 * MS
        events = [(0, stamp, ("rgb", k)), (1, stamp + rng.randint(-20, 20) * MS, ("x", k))]
        for index, stamp, item in (events if rng.random() < 0.5 else events[::-1]):
            pairer.add(index, stamp, item)
    assert len(out) == 199  # the last pair waits for a later message (no lower bound given)
    assert all(a[1] == b[1] for a, b in out), "no set may mix two frames"
    assert pairer.pending() == [1, 1]


def test_slop_is_the_largest_accepted_stamp_difference():
    out = []
    pairer = ApproximateTimePairer(2, 10, 50 * MS, lambda a, b: out.append((a, b)))
    for k in range(20):
        pairer.add(0, k * 200 * MS, k)
        pairer.add(1, k * 200 * MS + 60 * MS, k)  # always 60 ms apart: more than the slop
    assert out == []
    pairer.add(0, 4000 * MS, "a")
    pairer.add(1, 4050 * MS, "b")  # exactly the slop: accepted
    pairer.add(0, 4200 * MS, "c")
    pairer.add(1, 4200 * MS, "d")
    assert out[0] == ("a", "b")


def test_out_of_order_stamps_are_dropped_and_counted():
    out = []
    pairer = ApproximateTimePairer(2, 10, 50 * MS, lambda a, b: out.append((a, b)))
    assert pairer.add(0, 1000 * MS, "new")
    assert not pairer.add(0, 900 * MS, "old")
    assert pairer.dropped_out_of_order == [1, 0]
    pairer.add(1, 1000 * MS, "x")
    assert out == [("new", "x")]


def test_queue_size_bounds_memory_when_one_stream_is_silent():
    pairer = ApproximateTimePairer(2, 5, 50 * MS, lambda a, b: None)
    for k in range(100):
        pairer.add(0, k * MS * 33, k)
    assert pairer.pending() == [5, 0]
    assert pairer.dropped_queue_full == [95, 0]


def test_thread_safe_adds():
    out = []
    pairer = ApproximateTimePairer(2, 1000, 0, lambda a, b: out.append((a, b)))

    def feed(stream: int) -> None:
        for k in range(500):
            pairer.add(stream, k * MS, k)

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(out) == 500 and all(a == b for a, b in out)


@pytest.mark.parametrize("kwargs,text", [
    ({"num_streams": 1}, "num_streams=1"), ({"queue_size": 0}, "queue_size=0"), ({"slop_ns": -1}, "slop_ns=-1"),
    ({"inter_message_lower_bounds_ns": [1]}, "needs 2 values"),
])
def test_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        ApproximateTimePairer(**kwargs)


# -- one rule for the live node and bag evaluation --------------------------------------------------------------


def jittered_streams(seconds: float = 4.0, seed: int = 3) -> list[tuple[int, int]]:
    """(stamp ns, stream) in arrival order: RGB at 30 Hz, X at 9 Hz with a 7 ms offset and +-12 ms jitter."""
    rng = random.Random(seed)
    rgb = [round(i * 1e9 / 30) for i in range(int(seconds * 30))]
    x = [round(i * 1e9 / 9 + 7e6 + rng.uniform(-12e6, 12e6)) for i in range(int(seconds * 9))]
    return sorted([(t, 0) for t in rgb] + [(t, 1) for t in x])


def header_message(stamp: int):
    """A message with a real std_msgs/Header (rclpy's synchronizer converts it with rclpy.time.Time)."""
    return SimpleNamespace(header=Header(stamp=Time(sec=stamp // S, nanosec=stamp % S)))


def test_time_fields_invert_stamp_ns():
    assert time_fields(1_500_000_001) == {"sec": 1, "nanosec": 500_000_001}
    for nanoseconds in (0, 999_999_999, 1_700_000_000_123_456_789):
        assert stamp_ns(Time(**time_fields(nanoseconds))) == nanoseconds


def test_seconds_convert_once_and_round():
    assert seconds_to_ns(0.57) == 570_000_000  # int(0.57 * 1e9) would be 569999999
    assert PairingRule(slop_s=0.57).pairer(2).slop_ns == 570_000_000
    pairer = PairingRule(slop_s=0.02, queue_size=4, inter_message_lower_bound_s=0.03).pairer(3)
    assert (pairer.num_streams, pairer.queue_size, pairer.lower_bounds_ns) == (3, 4, [30_000_000] * 3)


def test_pairing_filter_plugs_into_real_message_filters_and_pairs_as_the_standalone_rule():
    """The same jittered streams through message_filters filters -> PairingFilter, and through the plain rule
    (what `rxssnet bag eval` runs): identical pairs. rclpy's ApproximateTimeSynchronizer pairs differently."""
    message_filters = pytest.importorskip("message_filters")
    rule = PairingRule(slop_s=0.05, queue_size=10, inter_message_lower_bound_s=0.02)
    streams = jittered_streams()

    standalone: list[tuple[int, int]] = []
    pairer = rule.pairer(2, lambda rgb, x: standalone.append((rgb, x)))
    for stamp, stream in streams:
        pairer.add(stream, stamp, stamp)

    inputs = [message_filters.SimpleFilter(), message_filters.SimpleFilter()]
    live: list[tuple[int, int]] = []
    pairing = PairingFilter(rule, 2)
    pairing.connectInput(*inputs)
    pairing.registerCallback(lambda rgb, x: live.append((stamp_ns(rgb.header.stamp), stamp_ns(x.header.stamp))))
    for stamp, stream in streams:
        inputs[stream].signalMessage(header_message(stamp))

    assert len(standalone) >= 30 and live == standalone
    assert all(abs(rgb - x) <= 50_000_000 for rgb, x in live)

    greedy: list[tuple[int, int]] = []
    inputs = [message_filters.SimpleFilter(), message_filters.SimpleFilter()]
    sync = message_filters.ApproximateTimeSynchronizer(inputs, 10, 0.05)
    sync.registerCallback(lambda rgb, x: greedy.append((stamp_ns(rgb.header.stamp), stamp_ns(x.header.stamp))))
    for stamp, stream in streams:
        inputs[stream].signalMessage(header_message(stamp))
    assert greedy != live  # why the node does not use it


def test_pairing_filter_checks_its_inputs_and_passes_extra_callback_arguments():
    pairing = PairingFilter(PairingRule(), 2)
    with pytest.raises(ValueError, match="expects 2 input filters, got 1"):
        pairing.connectInput(object())
    got = []
    pairing.registerCallback(lambda rgb, x, tag: got.append((rgb, x, tag)), "tag")
    first, second = header_message(S), header_message(S + 1_000_000)
    assert pairing.add(first, 0) and pairing.add(second, 1)
    pairing.add(header_message(2 * S), 0)
    pairing.add(header_message(2 * S), 1)
    assert got[0] == (first, second, "tag")
    assert not pairing.add(header_message(0), 0)  # older than the last RGB stamp: dropped, counted
    assert pairing.pairer.dropped_out_of_order == [1, 0]


def test_gate_filter_passes_only_admitted_messages_into_the_rule():
    """The node's chain: subscriber -> GateFilter(checks) -> PairingFilter. A refused X never pairs; the RGB image
    then pairs with the next admitted X within the slop."""
    sources = [FilterOutput(), FilterOutput()]
    refused = {S + 30_000_000}
    gates = [GateFilter(source, lambda msg: stamp_ns(msg.header.stamp) not in refused) for source in sources]
    pairs: list[tuple[int, int]] = []
    pairing = PairingFilter(PairingRule(slop_s=0.05), 2)
    pairing.connectInput(*gates)
    pairing.registerCallback(lambda rgb, x: pairs.append((stamp_ns(rgb.header.stamp), stamp_ns(x.header.stamp))))
    for stamp, stream in [(S, 0), (S + 30_000_000, 1), (S + 40_000_000, 1), (S + 100_000_000, 0),
                          (S + 200_000_000, 0), (S + 200_000_000, 1)]:
        sources[stream].signalMessage(header_message(stamp))
    assert pairs[0] == (S, S + 40_000_000)
    assert all(x not in refused for _, x in pairs)


@pytest.mark.ros
def test_subscriber_filter_forwards_a_real_subscription_like_message_filters_subscriber():
    """Where message_filters is not installed the node subscribes through SubscriberFilter: same arguments, the
    messages go to the registered callbacks, `.sub` is the rclpy subscription (deactivate destroys it)."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("subscriber_filter_test", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        source = SubscriberFilter(node, String, "~/chatter")
        got: list[tuple[str, str]] = []
        source.registerCallback(lambda msg, tag: got.append((msg.data, tag)), "x")
        publisher = node.create_publisher(String, "~/chatter", 10)
        assert source.sub.topic_name == "/subscriber_filter_test/chatter"
        deadline = time.monotonic() + 10.0
        while not got and time.monotonic() < deadline:
            publisher.publish(String(data="hello"))
            executor.spin_once(timeout_sec=0.1)
        assert got and got[0] == ("hello", "x")
        node.destroy_subscription(source.sub)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
