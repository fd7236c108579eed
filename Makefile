# Two commands for users: `make test` and `make demo`. Both create .venv on first use and are
# idempotent: the environment is rebuilt only when a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
REQS := requirements/core.txt requirements/bags.txt requirements/dev.txt requirements/ros.txt
STAMP := $(VENV)/.rxssnet-installed
# DDS discovery stays on this machine; every run gets its own domain unless the caller picks one.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 37
export FASTDDS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/fastdds_large_images.xml
PYTEST_ARGS ?=

.PHONY: venv test lint demo bench clean help

help:
	@echo "make test   - create .venv if needed, run ruff and the whole test suite (slow tests included)"
	@echo "make demo   - create .venv if needed, run the end-to-end demo (train, bag, ROS graph, report)"
	@echo "make bench  - print the CPU benchmark tables (see docs/benchmarks.md)"
	@echo "make clean  - remove .venv and build outputs"

venv: $(STAMP)

$(STAMP): $(REQS) setup.py package.xml scripts/setup_venv.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup_venv.sh
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m rxssnet_ros.demo $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),) $(DEMO_ARGS)

bench: $(STAMP)
	$(PY) -m rxssnet_core.benchmarks.model_cpu --channels-last
	$(PY) -m rxssnet_core.benchmarks.alignment
	$(VENV)/bin/rxssnet bench --variants atto tiny --sizes 480x640 --backends torch onnxruntime

clean:
	rm -rf $(VENV) build install log .pytest_cache
