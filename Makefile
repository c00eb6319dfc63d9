# Two entry points for a fresh machine (see README.md):
#   make demo   install, then run the main job on the embedded default
#   make test   install, then run the test suite (exactly what .ci/run does)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

# torch first, from the CPU build, so that nothing later pulls a multi-GB CUDA build;
# torchvision 0.28.0 is the release built for torch 2.13.0 (see bench/_torchvision.py).
TORCH_PINS ?= torch==2.13.0 torchvision==0.28.0
# Where pip finds those CPU builds. Empty: pip's own configuration (on the project's machines the
# CPU wheel of torch 2.13.0 lies on disk). Elsewhere, point it at PyTorch's CPU wheel index,
# e.g. make test TORCH_INDEX=URL, so that pip does not take a CUDA build from PyPI.
TORCH_INDEX ?=
TORCH_INDEX_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

.PHONY: install demo test lint services

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_INDEX_ARGS) $(TORCH_PINS)
	$(PIP) install -q -e ".[all,test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m bench.demo

services:
	bash tests/ci_services.sh

lint: install
	$(PY) -m ruff check .

test: install services lint
	$(PY) -m pytest -m "not slow and not gpu"
