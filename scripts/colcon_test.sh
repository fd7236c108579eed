#!/usr/bin/env bash
# `colcon build && colcon test --return-code-on-test-failure && colcon test-result --verbose`, as README.md's
# "Tests" shows a ROS user, run on a copy of this checkout in a temporary workspace with the python of $VENV.
# `make test` runs it with the robot's torch-free venv (.venv-robot: requirements/core.txt, the ROS 2 wheels and
# ../shared/ros_tools, see scripts/setup_venv.sh robot): the tests that need torch, timm or rosbags skip there
# with the reason, the rest must pass.
#
# Environment: VENV (.venv-robot; a path, relative to the checkout or absolute), COLCON_PYTEST_ARGS (extra pytest
# arguments separated by spaces, e.g. "test/test_cli.py test/test_packaging.py": only those files).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-robot}
checkout=$PWD
[[ $VENV == /* ]] || VENV=$checkout/$VENV
workspace=$(mktemp -d -t rxssnet-colcon-XXXXXX)
trap 'rm -rf "$workspace"' EXIT
mkdir -p "$workspace/src/rxssnet_ros"
# the sources only: never a venv or build output of the checkout (test/colcon_workspace.py copies the same way)
tar -C "$checkout" --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./install --exclude=./log \
  --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.mypy_cache \
  --exclude=./runs --exclude=./demo_output -cf - . | tar -C "$workspace/src/rxssnet_ros" -xf -
cd "$workspace"
set +u  # the ROS environment scripts read unset variables
if [[ -f "$VENV/ros_tools_env.sh" ]]; then
  . "$VENV/ros_tools_env.sh"
else
  . "$VENV/bin/activate"
fi
set -u
started=$SECONDS
colcon build --event-handlers console_cohesion-
# shellcheck disable=SC2086  # COLCON_PYTEST_ARGS holds several arguments
colcon test --return-code-on-test-failure --event-handlers console_cohesion- \
  ${COLCON_PYTEST_ARGS:+--pytest-args $COLCON_PYTEST_ARGS}
colcon test-result --verbose
echo "colcon build + test ($VENV): $((SECONDS - started)) s"
