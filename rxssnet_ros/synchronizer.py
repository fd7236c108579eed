# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""message_filters' ApproximateTime pairing rule as a pure-Python class (no rclpy).

The node uses it where ROS 2 `message_filters` is not installed, and the offline bag evaluation uses it to pair
recorded RGB and X messages exactly as a live node would. The rule is the ApproximateTime policy of
message_filters (sync_policies/approximate_time.hpp):

- every stream has a queue; when all queues are non-empty, the interval from the earliest to the latest queue head
  is a candidate set. The stream holding the latest head becomes the *pivot*: every future set must contain a
  message at or after the pivot's time.
- heads are consumed from the earliest one; a later set replaces the candidate when it is tighter, with an age
  penalty (0.1) that prefers older sets. The candidate is emitted once no future set can beat it: either the
  earliest head is the pivot itself, or the interval [pivot, latest head] is already wider than the candidate.
- when a queue runs dry, an optional per-stream *inter-message lower bound* (the least time between two
  messages of that stream) bounds the earliest next stamp; this proves optimality sooner, so sets go out without
  waiting for the next message.
- a set is a candidate only when its span is at most `slop` (message_filters' max interval duration); a queue
  holding more than `queue_size` messages drops its oldest, and a stream that dropped cannot become the pivot
  until its queue head has been used.
- stamps that go backwards within a stream are dropped and counted (message_filters only warns about them; a
  set built from them would pair the wrong images).

One rule for every entry point: `PairingRule` holds the node's parameters (`slop`, `queue_size`,
`inter_message_lower_bound`, in seconds) and converts them to nanoseconds once; the live node and `rxssnet bag
eval` both build their `ApproximateTimePairer` from it. The node feeds the rule through `PairingFilter`, which
has message_filters' filter interface (`connectInput`, `registerCallback`, `signalMessage`): its inputs are
`message_filters.Subscriber`s (`SubscriberFilter` where message_filters is not installed) behind the node's
`GateFilter` checks. rclpy's own `ApproximateTimeSynchronizer` is not used because it pairs greedily on arrival
with a strict `< slop` and ignores the inter-message lower bound (on a jittered 30 Hz / 9 Hz pair of streams it
pairs other frames than the C++ policy: test/test_synchronizer.py shows the difference).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rxssnet_ros.ros_time import seconds_to_ns, stamp_ns

AGE_PENALTY = 0.1


class ApproximateTimePairer:
    """Groups one item from each of `num_streams` streams whose stamps (int nanoseconds) lie within `slop_ns`.

    `callback(*items)` is called, outside the internal lock and in stamp order, for every set that is emitted.
    Thread-safe: `add` may be called from several threads.
    """

    def __init__(self, num_streams: int = 2, queue_size: int = 10, slop_ns: int = 50_000_000,
                 callback: Callable[..., Any] | None = None, age_penalty: float = AGE_PENALTY,
                 inter_message_lower_bounds_ns: Sequence[int] | None = None) -> None:
        if num_streams < 2:
            raise ValueError(f"num_streams={num_streams} must be at least 2")
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be at least 1 (2 or more recommended)")
        if slop_ns < 0:
            raise ValueError(f"slop_ns={slop_ns} must be >= 0")
        if age_penalty < 0:
            raise ValueError(f"age_penalty={age_penalty} must be >= 0")
        bounds = list(inter_message_lower_bounds_ns or [0] * num_streams)
        if len(bounds) != num_streams or any(b < 0 for b in bounds):
            raise ValueError(f"inter_message_lower_bounds_ns={bounds} needs {num_streams} values >= 0")
        self.num_streams = num_streams
        self.queue_size = queue_size
        self.slop_ns = int(slop_ns)
        self.age_penalty = float(age_penalty)
        self.lower_bounds_ns = [int(b) for b in bounds]
        self.callback = callback
        self._lock = threading.Lock()
        self.dropped_out_of_order = [0] * num_streams
        self.dropped_queue_full = [0] * num_streams
        self.emitted = 0
        self._clear()

    # -- public API ---------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every queued message and the stamp order (counters are kept): time went back."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._deques: list[deque[tuple[int, Any]]] = [deque() for _ in range(self.num_streams)]
        self._past: list[list[tuple[int, Any]]] = [[] for _ in range(self.num_streams)]
        self._last_stamp: list[int | None] = [None] * self.num_streams
        self._non_empty = 0
        self._pivot: int | None = None
        self._pivot_time = 0
        self._candidate: list[tuple[int, Any]] | None = None
        self._candidate_start = 0
        self._candidate_end = 0
        self._has_dropped = [False] * self.num_streams
        self._ready: list[list[tuple[int, Any]]] = []

    def add(self, stream_index: int, stamp_ns: int, item: Any) -> bool:
        """Queue `item` of stream `stream_index`; returns False when it was dropped as out of order."""
        if not 0 <= stream_index < self.num_streams:
            raise IndexError(f"stream_index={stream_index} is not in [0, {self.num_streams})")
        with self._lock:
            last = self._last_stamp[stream_index]
            if last is not None and stamp_ns < last:
                self.dropped_out_of_order[stream_index] += 1
                return False
            self._last_stamp[stream_index] = stamp_ns
            self._add_locked(stream_index, int(stamp_ns), item)
            ready, self._ready = self._ready, []
        for group in ready:
            self.emitted += 1
            if self.callback is not None:
                self.callback(*(entry[1] for entry in group))
        return True

    def pending(self) -> list[int]:
        """Messages held per stream (queued and already examined)."""
        with self._lock:
            return [len(q) + len(p) for q, p in zip(self._deques, self._past)]

    # -- the policy -----------------------------------------------------------------------------------------------
    def _add_locked(self, i: int, stamp: int, item: Any) -> None:
        queue = self._deques[i]
        queue.append((stamp, item))
        if len(queue) == 1:
            self._non_empty += 1
            if self._non_empty == self.num_streams:
                self._process()
        if len(queue) + len(self._past[i]) > self.queue_size:
            # Too many messages on this stream: abandon the search, restore the examined ones, drop the oldest.
            self._non_empty = 0
            for j in range(self.num_streams):
                self._recover(j, len(self._past[j]))
            queue.popleft()
            self.dropped_queue_full[i] += 1
            self._has_dropped[i] = True
            if self._pivot is not None:
                self._candidate = None
                self._pivot = None
                self._process()

    def _heads(self) -> list[int]:
        return [q[0][0] for q in self._deques]

    @staticmethod
    def _boundary(times: Sequence[int], latest: bool) -> tuple[int, int]:
        # Same tie-breaking as message_filters: the first stream wins for the earliest head, the last for the latest.
        index, time = 0, times[0]
        for j, t in enumerate(times):
            if (t < time) ^ latest:
                index, time = j, t
        return index, time

    def _delete_front(self, i: int) -> None:
        self._deques[i].popleft()
        if not self._deques[i]:
            self._non_empty -= 1

    def _move_front_to_past(self, i: int) -> None:
        self._past[i].append(self._deques[i].popleft())
        if not self._deques[i]:
            self._non_empty -= 1

    def _recover(self, i: int, count: int) -> None:
        queue, past = self._deques[i], self._past[i]
        for _ in range(count):
            queue.appendleft(past.pop())
        if queue:
            self._non_empty += 1

    def _make_candidate(self, start: int, end: int) -> None:
        self._candidate = [q[0] for q in self._deques]
        for past in self._past:
            past.clear()
        self._candidate_start, self._candidate_end = start, end

    def _publish_candidate(self) -> None:
        assert self._candidate is not None
        self._ready.append(self._candidate)
        self._candidate = None
        self._pivot = None
        # Put the examined messages back and remove the ones just emitted (the first of each stream).
        self._non_empty = 0
        for i in range(self.num_streams):
            queue, past = self._deques[i], self._past[i]
            while past:
                queue.appendleft(past.pop())
            queue.popleft()
            if queue:
                self._non_empty += 1

    def _penalised(self, end_time: int) -> float:
        return (end_time - self._candidate_end) * (1.0 + self.age_penalty)

    def _virtual_times(self) -> list[int]:
        times = []
        for i in range(self.num_streams):
            if self._deques[i]:
                times.append(self._deques[i][0][0])
            else:
                # The next message of this stream cannot be earlier than the last one plus the lower bound.
                bound = self._past[i][-1][0] + self.lower_bounds_ns[i]
                times.append(max(bound, self._pivot_time))
        return times

    def _process(self) -> None:
        while self._non_empty == self.num_streams:
            heads = self._heads()
            end_index, end_time = self._boundary(heads, latest=True)
            start_index, start_time = self._boundary(heads, latest=False)
            for i in range(self.num_streams):
                if i != end_index:
                    self._has_dropped[i] = False
            if self._pivot is None:
                if end_time - start_time > self.slop_ns or self._has_dropped[end_index]:
                    self._delete_front(start_index)
                    continue
                self._make_candidate(start_time, end_time)
                self._pivot, self._pivot_time = end_index, end_time
                self._move_front_to_past(start_index)
            else:
                if self._penalised(end_time) < start_time - self._candidate_start:
                    self._make_candidate(start_time, end_time)  # tighter set; same pivot
                self._move_front_to_past(start_index)
            if start_index == self._pivot:
                self._publish_candidate()  # every set containing the pivot has been seen
            elif self._penalised(end_time) >= self._pivot_time - self._candidate_start:
                self._publish_candidate()  # any later set would contain [pivot, end], already too wide
            elif self._non_empty < self.num_streams:
                self._virtual_search()

    def _virtual_search(self) -> None:
        """Use the inter-message lower bounds to prove the candidate optimal before the next message arrives."""
        moves = [0] * self.num_streams
        while True:
            times = self._virtual_times()
            _, end_time = self._boundary(times, latest=True)
            start_index, start_time = self._boundary(times, latest=False)
            if self._penalised(end_time) >= self._pivot_time - self._candidate_start:
                self._publish_candidate()
                return
            if self._penalised(end_time) < start_time - self._candidate_start:
                # An optimistic future set could still beat the candidate: undo the virtual moves and wait.
                self._non_empty = 0
                for i in range(self.num_streams):
                    self._recover(i, moves[i])
                return
            self._move_front_to_past(start_index)
            moves[start_index] += 1


@dataclass(frozen=True)
class PairingRule:
    """The pairing parameters, as the node declares them (seconds), shared by the live node and bag evaluation."""

    slop_s: float = 0.05
    queue_size: int = 10
    inter_message_lower_bound_s: float = 0.0

    def pairer(self, num_streams: int, callback: Callable[..., Any] | None = None) -> ApproximateTimePairer:
        """An `ApproximateTimePairer` for `num_streams` streams with these parameters (the bound on every stream)."""
        bound = seconds_to_ns(self.inter_message_lower_bound_s)
        return ApproximateTimePairer(num_streams, self.queue_size, seconds_to_ns(self.slop_s), callback,
                                     inter_message_lower_bounds_ns=[bound] * num_streams)

    def describe(self) -> str:
        return (f"ApproximateTime, slop {self.slop_s:g} s, queue {self.queue_size}, inter-message lower bound "
                f"{self.inter_message_lower_bound_s:g} s")


class FilterOutput:
    """The output half of message_filters' `SimpleFilter` (camelCase is theirs), without importing it: this module
    also serves machines without ROS. Callbacks get the filter's messages followed by their registered args.
    """

    def __init__(self) -> None:
        self._callbacks: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def registerCallback(self, callback: Callable[..., Any], *args: Any) -> int:  # noqa: N802 - message_filters' name
        connection = len(self._callbacks)
        self._callbacks[connection] = (callback, args)
        return connection

    def signalMessage(self, *messages: Any) -> None:  # noqa: N802 - message_filters' name
        for callback, args in list(self._callbacks.values()):
            callback(*(messages + args))


class SubscriberFilter(FilterOutput):
    """`message_filters.Subscriber` for installs without message_filters (pip-only): `node.create_subscription`
    with the same arguments, its messages go to the registered callbacks; `.sub` is the subscription.
    """

    def __init__(self, node: Any, msg_type: type, topic: str, **kwargs: Any) -> None:
        super().__init__()
        kwargs.setdefault("qos_profile", 10)
        self.sub = node.create_subscription(msg_type, topic, self.signalMessage, **kwargs)


class GateFilter(FilterOutput):
    """Passes a message of `source` on only when `admit(message)` is true: the node's per-input checks (encoding,
    finite values, failed-camera modes) sit between its subscriber and the pairing rule as a filter.
    """

    def __init__(self, source: Any, admit: Callable[[Any], bool]) -> None:
        super().__init__()
        self._admit = admit
        source.registerCallback(self._on_message)

    def _on_message(self, message: Any) -> None:
        if self._admit(message):
            self.signalMessage(message)


class PairingFilter(FilterOutput):
    """`PairingRule` as a message_filters filter: inputs are filters (`message_filters.Subscriber`s, `GateFilter`s
    or any object with `registerCallback`), the output goes to the callbacks registered on it, one message per
    stream. The node chains message_filters.Subscriber -> GateFilter -> PairingFilter, as follows.

        rgb = message_filters.Subscriber(node, Image, "~/rgb/image", qos_profile=qos)
        x = message_filters.Subscriber(node, Image, "~/x/image", qos_profile=qos)
        pairing = PairingFilter(PairingRule(slop_s=0.05), 2)
        pairing.connectInput(rgb, x)
        pairing.registerCallback(on_pair)          # on_pair(rgb_msg, x_msg)

    Messages need `header.stamp`; `add(message, index)` feeds one by hand (what `connectInput` registers).
    """

    def __init__(self, rule: PairingRule, num_streams: int = 2) -> None:
        super().__init__()
        self.rule = rule
        self.pairer = rule.pairer(num_streams, self.signalMessage)
        self._connections: list[Any] = []

    def connectInput(self, *filters: Any) -> None:  # noqa: N802 - message_filters' name
        if len(filters) != self.pairer.num_streams:
            raise ValueError(f"PairingFilter expects {self.pairer.num_streams} input filters, got {len(filters)}")
        self._connections = [f.registerCallback(self.add, index) for index, f in enumerate(filters)]

    def add(self, message: Any, index: int) -> bool:
        """Queue `message` of stream `index`; False when it was dropped as out of order."""
        return self.pairer.add(index, stamp_ns(message.header.stamp), message)
