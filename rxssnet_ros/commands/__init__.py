"""`rxssnet` subcommands that belong to the ROS side (rosbag tools)."""
