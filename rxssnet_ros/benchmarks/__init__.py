"""Benchmarks of the ROS side (scripts that print tables; not timed tests)."""
