# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Names that differ between the ROS 2 distributions the package supports (Humble, Jazzy, Kilted).

Every rclpy import whose module moved between distributions goes through here, so the node modules import
one name on every distribution:

    SubscriptionEventCallbacks   rclpy.event_handler (Iron and later: Jazzy, Kilted, Rolling)
                                 rclpy.qos_event (Humble; Jazzy keeps it as a deprecated alias that warns)

`test/test_ros_distros.py` checks that every rclpy name the package uses exists in Humble's and Jazzy's rclpy
(`test/data/rclpy_humble_api.tsv`, `test/data/rclpy_jazzy_api.tsv`).
"""

from __future__ import annotations

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:
    try:  # Humble: the same class under its old module name
        from rclpy.qos_event import SubscriptionEventCallbacks
    except ImportError as error:
        raise ImportError("rclpy has neither rclpy.event_handler (Iron and later) nor rclpy.qos_event (Humble): "
                          "rxssnet_ros needs ROS 2 Humble or newer; source a supported distribution") from error

__all__ = ["SubscriptionEventCallbacks"]
