# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""One ament_python package, `rxssnet_ros`, holding the network library and the ROS 2 tools."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE_NAME = "rxssnet_ros"

setup(
    name=PACKAGE_NAME,
    version="0.1.0",
    packages=find_packages(include=["rxssnet_core", "rxssnet_core.*", "rxssnet_ros", "rxssnet_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE_NAME}"]),
        (f"share/{PACKAGE_NAME}", ["package.xml"]),
        (f"share/{PACKAGE_NAME}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE_NAME}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE_NAME}/config/train", glob("config/train/*.yaml")),
        (f"share/{PACKAGE_NAME}/config/rviz", glob("config/rviz/*.rviz")),
    ],
    package_data={"rxssnet_core": ["py.typed"], "rxssnet_ros": ["py.typed"]},
    install_requires=["setuptools"],
    # colcon test runs pytest (not unittest) for a package that names it as a test dependency
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="RXSSNet-ROS maintainers",
    maintainer_email="maintainers@rxssnet-ros.org",
    description="RGB-X semantic segmentation (RXSSNet) for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "rxssnet = rxssnet_ros.cli:main",
            "segment_node = rxssnet_ros.segment_node:main",
            "eval_node = rxssnet_ros.eval_node:main",
        ],
    },
)
