# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 side of RXSSNet-ROS: the segmentation node, its message conversion and synchronisation, and bag tools."""
