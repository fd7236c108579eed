"""Offline rosbag2 tools (no ROS needed): dataset splits to bags, and bag replay scoring.

- `convert`: a labelled dataset split -> rosbag2 (mcap or sqlite3) with RGB, X and ground-truth Image topics
  (or the cameras as image_transport's CompressedImage),
  optional CameraInfo, and the dataset's class names and stems on `/rxssnet/dataset_info`.
- `replay_eval`: replays a bag through the node's own pairing rule and frame pipeline, and scores it against
  the ground-truth topic.
- `bag_source`: reading a bag (rosbag2, or ROS 1 through rosbags) in log-time order, salvaging a truncated MCAP.
- `tf_from_bag`: the bag's /tf_static and /tf as a transform tree (the extrinsic X -> RGB for `x_alignment`).
- `recording_stats`: pairing, stamp gaps, throughput and predicted class shares (recordings without labels).
- `degraded_replay`: the bag scored in every degraded mode (`rxssnet_core.degradation`) beside the fused score.
- `scoring`: the exact-stamp scorer, shared by `replay_eval` and the live `eval_node`; `issues`: the problem log.
- `report_plots`: the evaluation report (metrics.json, metrics.md, per-class IoU and latency plots).

Everything here reads and writes bags with the pure-Python `rosbags` library (imported on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BagError": "rxssnet_ros.bag_tools.convert",
    "BagTopics": "rxssnet_ros.bag_tools.convert",
    "DATASET_INFO_TOPIC": "rxssnet_ros.bag_tools.convert",
    "convert_dataset_to_bag": "rxssnet_ros.bag_tools.convert",
    "read_dataset_info": "rxssnet_ros.bag_tools.convert",
    "BagEvalConfig": "rxssnet_ros.bag_tools.replay_eval",
    "BagEvalResult": "rxssnet_ros.bag_tools.replay_eval",
    "ExactStampScorer": "rxssnet_ros.bag_tools.scoring",
    "evaluate_bag": "rxssnet_ros.bag_tools.replay_eval",
    "latency_stats": "rxssnet_ros.bag_tools.report_plots",
    "write_eval_report": "rxssnet_ros.bag_tools.report_plots",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rxssnet_ros.bag_tools' has no attribute {name!r}")
