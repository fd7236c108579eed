# Two commands for users: `make test` and `make demo`. Both create .venv on first use and are
# idempotent: the environment is rebuilt only when a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
REQS := $(filter-out requirements/ros-jazzy.txt,$(wildcard requirements/*.txt))
STAMP := $(VENV)/.rxssnet-installed
# A second venv with the ROS 2 Jazzy wheels runs the node tests again (scripts/setup_venv.sh jazzy).
JAZZY_VENV ?= .venv-jazzy
JAZZY_STAMP := $(JAZZY_VENV)/.rxssnet-installed
JAZZY_TESTS := test/test_ros_distros.py test/test_segment_node.py test/test_segment_node_bad_input.py \
	test/test_lifecycle.py
# The robot's torch-free install (core.txt + the ROS 2 wheels + ros_tools + the test runner): `make test` runs
# `colcon test` of the package there, as a ROS user on a robot would (scripts/colcon_test.sh).
ROBOT_VENV ?= .venv-robot
ROBOT_STAMP := $(ROBOT_VENV)/.rxssnet-installed
# The real ros2 tools (ros2 launch/param/..., launch_ros, message_filters), installed into .venv when present.
ROS_TOOLS ?= $(abspath $(CURDIR)/../shared/ros_tools)
# DDS discovery stays on this machine; every run gets its own domain unless the caller picks one.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 37
export FASTDDS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/fastdds_large_images.xml
PYTEST_ARGS ?= --durations=30
# Two pytest-xdist workers: about half the suite waits on DDS, subprocesses and sleeps (test/conftest.py gives each
# worker its own ROS domain and keeps a file's tests, and the fusion model's, on one worker). PYTEST_WORKERS=0 runs
# it in one process.
PYTEST_WORKERS ?= 2
XDIST_ARGS := $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup,)

.PHONY: venv ros-tools test test-jazzy test-colcon-robot lint demo bench clean help

help:
	@echo "make test   - create .venv (and .venv-jazzy) if needed, run ruff, the whole test suite (slow tests"
	@echo "              included), then the node tests again on ROS 2 Jazzy, then colcon test on the robot's"
	@echo "              torch-free install (make test-colcon-robot)"
	@echo "make demo   - create .venv if needed, run the end-to-end demo (train, bag, ROS graph, report)"
	@echo "make bench  - print the CPU benchmark tables (see docs/benchmarks.md)"
	@echo "make clean  - remove .venv and build outputs"

venv: $(STAMP)

$(STAMP): $(REQS) setup.py package.xml scripts/setup_venv.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup_venv.sh main
	@touch $(STAMP)

# install.sh keeps its own stamp: a second run is a no-op (0.05 s)
ros-tools: $(STAMP)
	PYTHON=$(PYTHON) VENV=$(VENV) ROS_TOOLS=$(ROS_TOOLS) bash scripts/setup_venv.sh ros-tools

$(JAZZY_STAMP): requirements/ros-jazzy.txt scripts/setup_venv.sh $(STAMP)
	PYTHON=$(PYTHON) VENV=$(VENV) JAZZY_VENV=$(JAZZY_VENV) bash scripts/setup_venv.sh jazzy
	@if [ -x $(JAZZY_VENV)/bin/python ]; then touch $(JAZZY_STAMP); fi

$(ROBOT_STAMP): requirements/core.txt requirements/ros.txt requirements/test.txt scripts/setup_venv.sh
	PYTHON=$(PYTHON) ROBOT_VENV=$(ROBOT_VENV) ROS_TOOLS=$(ROS_TOOLS) bash scripts/setup_venv.sh robot
	@if [ -x $(ROBOT_VENV)/bin/python ]; then touch $(ROBOT_STAMP); fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) ros-tools
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(XDIST_ARGS) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-jazzy
	$(MAKE) --no-print-directory test-colcon-robot

# Jazzy's python sets up its own LD_LIBRARY_PATH (ros-wheels bootstrapper): nothing of .venv's may be inherited.
test-jazzy: $(JAZZY_STAMP)
	@if [ -x $(JAZZY_VENV)/bin/python ]; then \
	  env -u LD_LIBRARY_PATH -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u AMENT_PREFIX_PATH -u PYTHONPATH \
	    RXSSNET_EXPECT_ROS_DISTRO=jazzy $(JAZZY_VENV)/bin/python -m pytest $(XDIST_ARGS) $(JAZZY_TESTS) $(PYTEST_ARGS); \
	else echo "test-jazzy: skipped (no $(JAZZY_VENV), see above)"; fi

# colcon's own environment (ros_tools_env.sh), not .venv's: nothing of .venv's may be inherited.
test-colcon-robot: $(ROBOT_STAMP)
	@if [ -x $(ROBOT_VENV)/bin/python ]; then \
	  env -u LD_LIBRARY_PATH -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u AMENT_PREFIX_PATH -u PYTHONPATH -u VIRTUAL_ENV \
	    VENV=$(ROBOT_VENV) bash scripts/colcon_test.sh; \
	else echo "test-colcon-robot: skipped (no $(ROBOT_VENV), see above)"; fi

demo: $(STAMP)
	$(PY) -m rxssnet_ros.demo $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),) $(DEMO_ARGS)

bench: $(STAMP)
	$(PY) -m rxssnet_core.benchmarks.model_cpu --channels-last
	$(PY) -m rxssnet_core.benchmarks.alignment
	$(VENV)/bin/rxssnet bench --variants atto tiny --sizes 480x640 --backends torch onnxruntime

clean:
	rm -rf $(VENV) $(JAZZY_VENV) $(ROBOT_VENV) build install log .pytest_cache
