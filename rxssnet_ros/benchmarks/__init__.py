# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks of the ROS side (scripts that print tables; not timed tests)."""
