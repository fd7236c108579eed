# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Offline rosbag2 tools (no ROS needed): dataset splits to bags, and bag replay scoring.

- `convert`: a labelled dataset split -> rosbag2 (mcap or sqlite3) with RGB, X and ground-truth Image topics
  (or the cameras as image_transport's CompressedImage),
  optional CameraInfo, and the dataset's class names and stems on `/rxssnet/dataset_info`.
- `bag_writer`: writing a rosbag2 with `rosbags` (typed Image / CompressedImage / CameraInfo / String messages,
  raw CDR copies), and replacing an existing bag safely.
- `replay_eval`: replays a bag through the node's own pairing rule and frame pipeline, and scores it against
  the ground-truth topic.
- `bag_source`: reading a bag (rosbag2, or ROS 1 through rosbags) in log-time order, salvaging a truncated MCAP.
- `tf_from_bag`: the bag's /tf_static and /tf as a transform tree (the extrinsic X -> RGB for `x_alignment`).
- `recording_stats`: pairing, stamp gaps, throughput and predicted class shares (recordings without labels).
- `mining`: `rxssnet bag mine`, the replay's pairs scored for labelling (`rxssnet_core.labelling_score`) and the
  picks written as a dataset with pre-labels, CVAT masks, scores.csv and a contact sheet.
- `degraded_replay`: the bag scored in every degraded mode (`rxssnet_core.degradation`) beside the fused score.
- `scoring`: the exact-stamp scorer, shared by `replay_eval` and the live `eval_node`; `issues`: the problem log.
- `report_plots`: the evaluation report (metrics.json, metrics.md, per-class IoU and latency plots).

Bags are read and written with the pure-Python `rosbags` library (requirements/bags.txt). This package file
imports only the error base: segment_node imports `tf_from_bag`, which needs neither rosbags nor the evaluation code.
`BagError` is the one error every tool here raises.
"""

from rxssnet_core.errors import RXSSNetError


class BagError(RXSSNetError, ValueError):
    """A bag cannot be written or read as asked; the message names the bag, topic or option and the fix."""
