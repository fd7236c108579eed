# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Problems found in a bag or a live evaluation: counted by (kind, topic, detail), named, reported.

`IssueLog.add(kind, topic, detail, example)` counts one occurrence (with up to MAX_EXAMPLES examples, usually
stamps); `texts()` gives one sentence per kind and topic for the report (templates below).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 5

_TEMPLATES: dict[str, str] = {
    "truncated": "{detail}",
    "deserialize": "{n} message{s} on {topic} could not be deserialized ({detail})",
    "unsupported_encoding": "{n} message{s} with unsupported encoding {detail} on {topic}",
    "bad_image": "{n} message{s} on {topic} could not be decoded: {detail}",
    "out_of_order": "{n} message{s} on {topic} had a header stamp earlier than the previous one and {was} "
                    "dropped (the pairing rule skips stamps that go backwards)",
    "rgb_without_x": "{n} RGB frame{s} had no X within slop ({detail})",
    "x_unused": "{n} X frame{s} {was} not paired with any RGB frame",
    "queue_full": "{n} message{s} on {topic} {was} dropped because the pairing queue overflowed ({detail})",
    "no_camera_info": "{n} pair{s} could not be registered: {detail}",
    "alignment": "{n} pair{s} could not be registered: {detail}",
    "segment_error": "{n} pair{s} could not be segmented: {detail}",
    "no_gt": "{n} segmented frame{s} had no ground truth with the exact RGB stamp on {topic}",
    "gt_unused": "{n} ground-truth message{s} on {topic} matched no segmented frame",
    "gt_no_frame": "{n} ground-truth message{s} on {topic} had a stamp that no RGB frame has",
    "gt_frame_unsegmented": "{n} ground-truth message{s} on {topic} belonged to RGB frames that were not "
                            "segmented (see the problems above)",
    "duplicate_stamp": "{n} {detail} message{s} repeated a stamp already seen; the first one is used",
    "size_mismatch": "{n} frame{s} had ground truth of another size than the prediction: {detail}",
    "gt_out_of_range": "{n} ground-truth image{s} held ids outside [0, K) other than the ignore index "
                       "({detail}); those pixels are not counted",
    "prediction_out_of_range": "{n} prediction{s} held class ids outside [0, K): {detail}",
    "pending_overflow": "{n} unmatched {detail} message{s} {was} discarded (more than max_pending waiting)",
    "tf": "{n} pair{s} had no extrinsic from the bag's tf: {detail}",
    "ros1_type": "{detail}",
    "topic_transport": "{detail}",
    "dataset_info": "{detail}",
    "class_names": "{detail}",
}


@dataclass
class Issue:
    """One kind of problem on one topic: how often, and the first few examples (stamps or reasons)."""

    kind: str
    topic: str | None
    detail: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def text(self) -> str:
        template = _TEMPLATES.get(self.kind, "{n} x {kind} on {topic}: {detail}")
        plural = self.count != 1
        return template.format(n=self.count, s="s" if plural else "", was="were" if plural else "was",
                               topic=self.topic or "-", detail=self.detail, kind=self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "topic": self.topic, "detail": self.detail, "count": self.count,
                "examples": list(self.examples), "text": self.text()}


class IssueLog:
    """Counts problems by (kind, topic, detail), keeping up to 5 examples each, in first-seen order."""

    def __init__(self) -> None:
        self._issues: dict[tuple[str, str | None, str], Issue] = {}

    def add(self, kind: str, topic: str | None = None, detail: str = "", example: Any = None, count: int = 1) -> None:
        key = (kind, topic, detail)
        issue = self._issues.setdefault(key, Issue(kind, topic, detail))
        issue.count += count
        if example is not None and len(issue.examples) < MAX_EXAMPLES:
            issue.examples.append(str(example))

    def __iter__(self) -> Iterator[Issue]:
        return iter(self._issues.values())

    def __len__(self) -> int:
        return len(self._issues)

    def count(self, kind: str) -> int:
        return sum(i.count for i in self._issues.values() if i.kind == kind)

    def texts(self) -> list[str]:
        return [issue.text() for issue in self]

    def to_list(self) -> list[dict[str, Any]]:
        return [issue.to_dict() for issue in self]


def format_stamp(stamp_ns: int) -> str:
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"
