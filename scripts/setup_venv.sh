#!/usr/bin/env bash
# Creates (or completes) the project's virtual environment. Called by the Makefile; safe to re-run.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
ros_sourced=0
if [[ -n "${ROS_DISTRO:-}" ]] && "$PYTHON" -c "import rclpy" 2>/dev/null; then
  ros_sourced=1
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  if [[ $ros_sourced == 1 ]]; then
    # A sourced ROS 2 distribution provides rclpy, message_filters, cv_bridge and launch: see them from the venv.
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" -r requirements/core.txt -r requirements/bags.txt -r requirements/dev.txt
if [[ $ros_sourced == 0 ]]; then
  "${pip[@]}" -r requirements/ros.txt
else
  echo "ROS 2 ${ROS_DISTRO} is sourced: using its rclpy instead of the PyPI wheels."
fi
"${pip[@]}" --no-deps -e .
