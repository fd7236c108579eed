# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a converted bag holds and how its topics are named, shared by conversion, replay and the live nodes.

Topic names: an image topic's image_transport base (`/camera/rgb/image/compressed` -> `/camera/rgb/image`), the
CameraInfo topic beside it (`/camera/rgb/camera_info`), a check that a name is a valid absolute ROS topic, and
`BagTopics`, the RGB, X and ground-truth topics of a converted bag.

The dataset description: one std_msgs/String on `/rxssnet/dataset_info` (`DATASET_INFO_TOPIC`) whose JSON
(`DATASET_INFO_FORMAT`) names the dataset, split, classes, palette, modality, topics and every frame's stem and
stamps (`convert` writes it). `parse_dataset_info` checks such a text; `read_dataset_info(bag)` reads it from a
bag (`rxssnet bag eval`, `eval_node`'s `dataset_info` parameter, the demo).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import Reader, ReaderError

from rxssnet_ros.bag_tools import BagError
from rxssnet_ros.bag_tools.bag_writer import get_typestore
from rxssnet_ros.compressed_image import TRANSPORTS

DATASET_INFO_TOPIC = "/rxssnet/dataset_info"
DATASET_INFO_FORMAT = "rxssnet/dataset_info/1"


def base_image_topic(image_topic: str) -> str:
    """`/camera/rgb/image/compressed` -> `/camera/rgb/image`: the image_transport base of a transport topic."""
    base, _, last = image_topic.rpartition("/")
    return base if base and last in TRANSPORTS[1:] else image_topic


def camera_info_topic(image_topic: str) -> str:
    """`/camera/rgb/image` (or its `/compressed` transport) -> `/camera/rgb/camera_info` (image_transport's
    convention: same namespace as the base topic).
    """
    parent = base_image_topic(image_topic).rsplit("/", 1)[0]
    return f"{parent}/camera_info"


def check_topic_name(name: str, option: str) -> str:
    """An absolute ROS topic name, or BagError naming the option."""
    text = str(name)
    valid = text.startswith("/") and len(text) > 1 and not text.endswith("/") and all(
        part and (part[0].isalpha() or part[0] == "_") and all(c.isalnum() or c == "_" for c in part)
        for part in text[1:].split("/"))
    if not valid:
        raise BagError(f"{option}={text!r} is not a valid absolute ROS topic name; use e.g. /camera/rgb/image "
                       "(letters, digits and '_', separated by '/', each part starting with a letter)")
    return text


@dataclass
class BagTopics:
    """Topic names of a converted bag; camera_info topics follow the image topics' namespaces."""

    rgb: str = "/camera/rgb/image"
    x: str = "/camera/x/image"
    gt: str = "/camera/labels_gt"
    dataset_info: str = DATASET_INFO_TOPIC

    def __post_init__(self) -> None:
        for option, value in (("--rgb-topic", self.rgb), ("--x-topic", self.x), ("--gt-topic", self.gt)):
            check_topic_name(value, option)
        if len({self.rgb, self.x, self.gt, self.dataset_info}) != 4:
            raise BagError(f"--rgb-topic {self.rgb}, --x-topic {self.x} and --gt-topic {self.gt} must be different "
                           f"topics (and not {self.dataset_info})")

    def check_camera_info(self) -> None:
        """CameraInfo goes next to each image topic: the two cameras need their own namespaces."""
        if self.rgb_info == self.x_info:
            raise BagError(f"--rgb-topic {self.rgb} and --x-topic {self.x} share a namespace, so their CameraInfo "
                           "topics would collide; put each camera in its own namespace (/camera/rgb/..., "
                           "/camera/x/...) or drop --camera-info")

    @property
    def rgb_info(self) -> str:
        return camera_info_topic(self.rgb)

    @property
    def x_info(self) -> str:
        return camera_info_topic(self.x)


def parse_dataset_info(text: str, source: str) -> dict[str, Any]:
    """The JSON of a `/rxssnet/dataset_info` message, checked; BagError naming `source` otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BagError(f"{source}: dataset info is not valid JSON ({error})") from error
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("rxssnet/dataset_info/"):
        raise BagError(f"{source}: not an rxssnet dataset description (no 'format': '{DATASET_INFO_FORMAT}')")
    names = data.get("class_names")
    if not isinstance(names, list) or not names or len(names) != data.get("num_classes", len(names)):
        raise BagError(f"{source}: dataset info has no usable class_names list")
    return data


def read_dataset_info(bag: str | Path, topic: str = DATASET_INFO_TOPIC) -> dict[str, Any] | None:
    """The dataset description stored in a converted bag, or None when the bag has no `topic`."""
    path = Path(bag)
    if not path.exists():
        raise FileNotFoundError(f"bag {str(path)!r} does not exist")
    try:
        with Reader(path) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            if not connections:
                return None
            typestore = get_typestore()
            for conn, _, data in reader.messages(connections):
                msg = typestore.deserialize_cdr(data, conn.msgtype)
                return parse_dataset_info(msg.data, f"{path} topic {topic}")
    except ReaderError as error:
        raise BagError(f"cannot read bag {str(path)!r}: {error}") from error
    return None
