#!/usr/bin/env bash
# Creates (or completes) the project's virtual environments. Called by the Makefile; safe to re-run.
#
#   scripts/setup_venv.sh [main]     $VENV (.venv): requirements core, torch, model, train, bags, dev (+ openvino
#                                    when requirements/openvino.txt exists), the ROS 2 Kilted wheels (ros.txt) unless
#                                    a ROS 2 distribution is sourced, then the package itself (editable)
#   scripts/setup_venv.sh ros-tools  the real ROS 2 Python tools (ros2 launch/run/param/..., launch, launch_ros,
#                                    message_filters) from $ROS_TOOLS (default ../shared/ros_tools) into $VENV, when
#                                    that folder exists and no ROS 2 is sourced; a no-op when already up to date
#   scripts/setup_venv.sh robot      $ROBOT_VENV (.venv-robot): the robot's torch-free install (requirements core, the
#                                    ROS 2 Kilted wheels, the ros_tools) plus the test runner (test.txt), on which
#                                    scripts/colcon_test.sh runs `colcon test`; not created when a ROS 2 is sourced or
#                                    the Kilted wheels do not fit this machine (then the step says why)
#   scripts/setup_venv.sh jazzy      $JAZZY_VENV (.venv-jazzy): the ROS 2 Jazzy wheels (ros-jazzy.txt); everything
#                                    else (torch, numpy, ...) comes from $VENV through a .pth appended after Jazzy's
#                                    own site-packages, so rclpy is Jazzy's and torch is not installed twice
#
# Environment: PYTHON (python3), VENV (.venv), JAZZY_VENV (.venv-jazzy), ROBOT_VENV (.venv-robot),
# ROS_TOOLS (../shared/ros_tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
JAZZY_VENV=${JAZZY_VENV:-.venv-jazzy}
ROBOT_VENV=${ROBOT_VENV:-.venv-robot}
ROS_TOOLS=${ROS_TOOLS:-../shared/ros_tools}
pip_flags=(--disable-pip-version-check -q)

ros_sourced=0
if [[ -n "${ROS_DISTRO:-}" ]] && "$PYTHON" -c "import rclpy" 2>/dev/null; then
  ros_sourced=1
fi

site_packages() {  # $1 = a venv's python
  "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

setup_main() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    if [[ $ros_sourced == 1 ]]; then
      # A sourced ROS 2 distribution provides rclpy, message_filters, cv_bridge and launch: see them from the venv.
      "$PYTHON" -m venv --system-site-packages "$VENV"
    else
      "$PYTHON" -m venv "$VENV"
    fi
  fi
  local reqs=(-r requirements/core.txt -r requirements/torch.txt -r requirements/model.txt -r requirements/train.txt
              -r requirements/bags.txt -r requirements/dev.txt)
  # the OpenVINO backend's tests run where it is installed
  [[ -f requirements/openvino.txt ]] && reqs+=(-r requirements/openvino.txt)
  "$VENV/bin/python" -m pip install "${pip_flags[@]}" "${reqs[@]}"
  if [[ $ros_sourced == 0 ]]; then
    "$VENV/bin/python" -m pip install "${pip_flags[@]}" -r requirements/ros.txt
  else
    echo "ROS 2 ${ROS_DISTRO} is sourced: using its rclpy instead of the PyPI wheels."
  fi
  "$VENV/bin/python" -m pip install "${pip_flags[@]}" --no-deps -e .
}

setup_ros_tools() {
  if [[ $ros_sourced == 1 ]]; then
    echo "ROS 2 ${ROS_DISTRO} is sourced: its ros2 tools are used."
    return 0
  fi
  if [[ ! -f "$ROS_TOOLS/install.sh" ]]; then
    echo "no $ROS_TOOLS/install.sh: the ros2 CLI tests skip, the package's built-in equivalents are tested."
    return 0
  fi
  # install.sh is a no-op when up to date. Its `prereqs` step runs `make --version | head -1` under pipefail,
  # which dies of SIGPIPE (exit 141) whenever make writes its second line after head has exited (often, and
  # every time on a loaded machine): a `make` on PATH that prints one line for --version avoids the race.
  # Any other failure gets one retry.
  local shim
  shim=$(mktemp -d)
  printf '#!/bin/sh\nif [ "$1" = --version ]; then %s --version | sed -n 1p; else exec %s "$@"; fi\n' \
    "$(command -v make)" "$(command -v make)" >"$shim/make"
  chmod +x "$shim/make"
  if ! PATH="$shim:$PATH" bash "$ROS_TOOLS/install.sh" "$VENV"; then
    echo "ros_tools install failed; retrying once"
    PATH="$shim:$PATH" bash "$ROS_TOOLS/install.sh" "$VENV"
  fi
  rm -rf "$shim"
}

kilted_wheels_unusable() {  # prints why the ros-* (Kilted) wheels cannot be installed with $1, nothing when they can
  if [[ $(uname -m) != x86_64 ]]; then
    echo "the ros-* wheels are x86_64 only"
  elif [[ $("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])') != 3.11 ]]; then
    echo "the ros-* wheels are for CPython 3.11"
  fi
}

setup_robot() {
  local why=""
  if [[ $ros_sourced == 1 ]]; then
    why="ROS 2 ${ROS_DISTRO} is sourced: run scripts/colcon_test.sh with its python (VENV=.venv)"
  else
    why=$(kilted_wheels_unusable "$PYTHON")
  fi
  if [[ -n $why ]]; then
    echo "not creating $ROBOT_VENV: $why"
    rm -rf "$ROBOT_VENV"
    return 0
  fi
  [[ -x "$ROBOT_VENV/bin/python" ]] || "$PYTHON" -m venv "$ROBOT_VENV"
  "$ROBOT_VENV/bin/python" -m pip install "${pip_flags[@]}" -r requirements/core.txt -r requirements/ros.txt \
    -r requirements/test.txt
  VENV=$ROBOT_VENV setup_ros_tools
}

setup_jazzy() {
  local why=""
  if [[ $ros_sourced == 1 ]]; then
    why="ROS 2 ${ROS_DISTRO} is sourced (its own rclpy is tested)"
  else
    why=$(kilted_wheels_unusable "$VENV/bin/python")
  fi
  if [[ -n $why ]]; then
    echo "not creating $JAZZY_VENV: $why"
    rm -rf "$JAZZY_VENV"
    return 0
  fi
  local base
  base=$("$VENV/bin/python" -c 'import sys; print(sys._base_executable)')
  [[ -x "$JAZZY_VENV/bin/python" ]] || "$base" -m venv "$JAZZY_VENV"
  # the packages both venvs hold (numpy, pyyaml, ...) get .venv's versions: torch and opencv were built for them
  local main_sp pins
  main_sp=$(site_packages "$VENV/bin/python")
  pins=$(mktemp)
  "$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE '^(numpy|pyyaml|empy|lark-parser|setuptools)==' >"$pins"
  "$JAZZY_VENV/bin/python" -m pip install "${pip_flags[@]}" -c "$pins" -r requirements/ros-jazzy.txt
  rm -f "$pins"
  "$JAZZY_VENV/bin/python" -m pip install "${pip_flags[@]}" --no-deps -e .
  # Appended to sys.path after Jazzy's site-packages: Jazzy's rclpy and messages win, everything else comes
  # from .venv. (.pth files inside the appended folder are not run: .venv's ros-wheels bootstrapper stays out.)
  printf '%s\n' "$(cd "$main_sp" && pwd)" >"$(site_packages "$JAZZY_VENV/bin/python")/zz_rxssnet_main_venv.pth"
  env -u LD_LIBRARY_PATH -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$JAZZY_VENV/bin/python" -c '
import rclpy, torch, rxssnet_ros.compat
from importlib import metadata
print("jazzy venv: rclpy", metadata.version("ros-rclpy"), "from", rclpy.__file__, "| torch", torch.__version__)'
}

case ${1:-main} in
  main) setup_main ;;
  ros-tools) setup_ros_tools ;;
  robot) setup_robot ;;
  jazzy) setup_jazzy ;;
  *) echo "usage: $0 [main|ros-tools|robot|jazzy]" >&2; exit 2 ;;
esac
