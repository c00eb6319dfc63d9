# Two entry points for a fresh machine (see README.md):
#   make demo   install, then run the main job on the embedded default
#   make test   install, then run the test suite (exactly what .ci/run does)
# and one for maintainers:
#   make lock   re-resolve requirements.lock from pyproject.toml (UPGRADE=1: newest transitive
#               dependencies too); commit the result
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
LOCK := requirements.lock

# torch and torchvision are the one choice left to the machine: the build (CPU or CUDA) and the
# index it comes from. They are installed from TORCH_PINS, never from the lock (the lock's hashes
# would pin one build), and their floors in pyproject.toml are these versions.
#  - Default: torch 2.13.0 and torchvision 0.28.0, the release pair. On the project's machines
#    pip's configuration supplies the CPU build of torch from disk, while torchvision comes from
#    PyPI built against CUDA torch; bench/_torchvision.py makes that pair import (see there).
#  - A GPU machine: a matched pair from one PyTorch index, under which bench/_torchvision.py
#    does nothing (tests/test_install_torchvision.py checks it):
#      make install TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
#          TORCH_PINS="torch==2.13.0+cu128 torchvision==0.28.0+cu128"
#    (pick the CUDA variant of the index that your driver supports; the +cuXXX labels make pip
#    take both builds from that index and nothing else). Likewise a matched CPU pair:
#    TORCH_INDEX=https://download.pytorch.org/whl/cpu TORCH_PINS="torch==2.13.0+cpu
#    torchvision==0.28.0+cpu".
TORCH_VERSION := 2.13.0
TORCHVISION_VERSION := 0.28.0
TORCH_PINS ?= torch==$(TORCH_VERSION) torchvision==$(TORCHVISION_VERSION)
# Where pip finds the torch builds. Empty: pip's own configuration (on the project's machines the
# CPU wheel of torch 2.13.0 lies on disk). Elsewhere, point it at PyTorch's wheel index (see
# above) so that pip does not take a multi-GB CUDA build from PyPI for a CPU machine.
TORCH_INDEX ?=
TORCH_INDEX_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

# make lock: uv (pinned) in its own environment beside the project's, so that the project's
# environment holds exactly the lock. The lock is resolved for CPython 3.11 on Linux x86_64
# (CI and the project's machines) against the CPU build of torch, whose dependencies are those
# of every build less the CUDA runtime; torch and torchvision themselves are left out of it.
UV_VERSION := 0.13.9
LOCK_TOOLS := $(VENV)/lock-tools
UV := $(LOCK_TOOLS)/bin/uv
LOCK_PYTHON ?= 3.11
LOCK_PLATFORM ?= x86_64-unknown-linux-gnu
# Where uv finds that CPU build: pip's find-links where set (the project's machines), otherwise
# PyTorch's CPU index.
LOCK_TORCH_SOURCE ?= $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)

.PHONY: install demo test lint services lock

# 1. the lock, hash-checked, without resolving anything (it is complete: tests check it);
# 2. torch and torchvision from TORCH_PINS: their dependencies are already satisfied by the lock,
#    except a CUDA build's own runtime packages, which that build pins exactly;
# 3. this project, editable, without dependencies; then pip check.
$(VENV)/.installed: pyproject.toml Makefile $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --require-hashes --no-deps -r $(LOCK)
	$(PIP) install -q $(TORCH_INDEX_ARGS) $(TORCH_PINS)
	$(PIP) install -q --no-deps -e .
	$(PIP) check
	echo "$(TORCH_PINS)" > $(VENV)/torch-pins.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m reports.demo

services:
	bash tests/ci_services.sh

lint: install
	$(PY) -m ruff check .

test: install services lint
	$(PY) -m pytest -m "not slow and not gpu"

$(UV):
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install -q uv==$(UV_VERSION)

lock: $(UV)
	printf '%s\n' torch==$(TORCH_VERSION)+cpu torchvision==$(TORCHVISION_VERSION) \
	    > $(LOCK_TOOLS)/torch-for-lock.txt
	$(UV) pip compile pyproject.toml --extra all --extra test \
	    --resolution lowest-direct --generate-hashes \
	    --python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
	    -c $(LOCK_TOOLS)/torch-for-lock.txt $(LOCK_TORCH_SOURCE) \
	    --no-emit-package torch --no-emit-package torchvision \
	    $(if $(UPGRADE),--upgrade,) --custom-compile-command "make lock" -o $(LOCK)
