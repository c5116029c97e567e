# Product Image Processor: developer entry points. `make` (or `make help`) lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
# Folder holding an offline mirror of the Terraform providers (passed as -plugin-dir); empty = the registry.
TF_PLUGIN_DIR ?=
# How `make run` creates its tables: auto (Terraform if installed, else boto3), terraform or boto3.
LOCAL_TABLES ?= auto
PYTEST_ARGS ?=

INSTALL_STAMP := $(VENV)/.installed

.PHONY: help install run test lint fmt clean

help: ## Show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(INSTALL_STAMP): pyproject.toml requirements/runtime.txt requirements/dev.txt requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -c requirements/constraints.txt -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

install: $(INSTALL_STAMP) ## Create .venv and install the pinned dependencies

run: install ## Run the service with uvicorn on HOST:PORT (starts a local AWS emulator if none answers)
	$(PY) -m tools.dev_server --host $(HOST) --port $(PORT) --aws-endpoint $(AWS_ENDPOINT_URL) \
		--tables $(LOCAL_TABLES) --tf-plugin-dir "$(TF_PLUGIN_DIR)"

lint: install ## Ruff (lint and format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy layers/common/python functions local_server.py tools tests

fmt: install ## Format the code and apply safe lint fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint ## Lint, type-check and run the whole test suite
	TF_PLUGIN_DIR="$(TF_PLUGIN_DIR)" $(PY) -m pytest $(PYTEST_ARGS)

clean: ## Remove the virtualenv, build outputs and caches
	rm -rf $(VENV) build .run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
