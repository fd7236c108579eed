"""ROS 2 side of RXSSNet-ROS: the segmentation node, its message conversion and synchronisation, and bag tools."""
