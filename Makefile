# Product Image Processor: developer entry points. `make` (or `make help`) lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

# The Lambda and container runtime's version; found on PATH, else in pyenv's versions.
PYTHON ?= $(or $(shell for candidate in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	"$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$$candidate"; break; }; done),python3.12)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The origin browsers use: upload URLs are built from it and only its pages (and CORS_ALLOWED_ORIGINS) may POST.
PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
# An offline mirror of the Terraform providers (passed as -plugin-dir); empty = the registry. Either the folder
# that holds registry.terraform.io, or any folder inside it (tools/plugin_dir.py finds the root, or says what is meant).
TF_PLUGIN_DIR ?=
# How `make run` creates its tables: auto (Terraform if installed, else boto3), terraform or boto3.
LOCAL_TABLES ?= auto
PYTEST_ARGS ?=

INSTALL_STAMP := $(VENV)/.installed

# Lambda packaging and deployment (`make deploy`; real AWS with AWS_ENDPOINT_URL=).
TERRAFORM ?= terraform
TF_DIR := terraform
# Terraform workspace of `make deploy`/`destroy`; empty = from AWS_ENDPOINT_URL (tools/deploy_target.py):
# aws (no endpoint), localstack, or emulator (moto's server, which cannot run the functions).
TF_WORKSPACE ?=
BUILD := build
FUNCTION_ZIPS := $(BUILD)/functions/api.zip $(BUILD)/functions/smart_crop_worker.zip
# Everything a function zip is made of (tools/build_lambda.py: handler, library, pinned dependencies).
PACKAGE_SOURCES := $(shell find layers/common/python/image_processor -type f -not -path '*/__pycache__/*') \
	tools/build_lambda.py requirements/runtime.txt requirements/runtime.lock
# Deferred (=): a wrong TF_PLUGIN_DIR stops only the targets that use it.
TF_PLUGIN_ROOT = $(if $(TF_PLUGIN_DIR),$(or $(shell $(PYTHON) tools/plugin_dir.py "$(TF_PLUGIN_DIR)"),$(error TF_PLUGIN_DIR: see the line above)))
TF_INIT_FLAGS = -input=false $(if $(TF_PLUGIN_ROOT),-plugin-dir=$(TF_PLUGIN_ROOT))
TF_VARS := -var=aws_endpoint_url=$(AWS_ENDPOINT_URL)
# Locks (every transitive pin with its hashes) are generated from the direct pins in requirements/*.txt.
PIP_TOOLS_VERSION := 7.6.2
LOCK_VENV := .venv-lock
LOCK_STAMP := $(LOCK_VENV)/.installed-$(PIP_TOOLS_VERSION)
PIP_COMPILE_ARGS ?=
PIP_AUDIT_VERSION := 2.9.0
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: help install run test test-fast lint fmt clean package deploy destroy checkov require-terraform bench lock audit

help: ## Show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(INSTALL_STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else "Python 3.12 (the Lambda and container runtime) is required: set PYTHON=/path/to/python3.12")' 2>/dev/null \
		|| { echo "Python 3.12 (the Lambda and container runtime) was not found: install it, or set PYTHON=/path/to/python3.12." >&2; exit 1; }
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

install: $(INSTALL_STAMP) ## Create .venv and install the pinned dependencies

run: install ## Run the service with uvicorn on HOST:PORT (starts a local AWS emulator if none answers)
	MALLOC_ARENA_MAX=2 PUBLIC_BASE_URL="$(PUBLIC_BASE_URL)" $(PY) -m tools.dev_server --host $(HOST) --port $(PORT) --aws-endpoint $(AWS_ENDPOINT_URL) \
		--tables $(LOCAL_TABLES) --tf-plugin-dir "$(TF_PLUGIN_ROOT)"

lint: install $(CHECKOV_STAMP) ## Ruff (lint and format check), mypy and checkov over terraform/
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy layers/common/python functions local_server.py tools tests bench
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact -d $(TF_DIR)

# checkov lives in its own virtualenv: its dependency pins clash with the service's.
$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $@

checkov: $(CHECKOV_STAMP) ## Install checkov (pinned) into .venv-checkov

# pip-tools (and pip-audit) live in their own virtualenv, outside the locks they write and read.
$(LOCK_STAMP):
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet pip-tools==$(PIP_TOOLS_VERSION) pip-audit==$(PIP_AUDIT_VERSION)
	@touch $@

lock: $(LOCK_STAMP) ## Regenerate requirements/*.lock from requirements/*.txt (PIP_COMPILE_ARGS="--upgrade-package X" to move one)
	for name in runtime dev; do \
		$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
			--no-emit-find-links --no-emit-trusted-host $(PIP_COMPILE_ARGS) \
			--output-file requirements/$$name.lock requirements/$$name.txt; \
	done

audit: $(LOCK_STAMP) ## Look up known vulnerabilities of every locked package; fails if any cannot be looked up (needs PyPI's JSON API or OSV)
	$(LOCK_VENV)/bin/pip-audit --strict --require-hashes --disable-pip --progress-spinner off -r requirements/dev.lock

fmt: install ## Format the code and apply safe lint fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint ## Lint, type-check and run the whole test suite (the 15 slowest tests listed at the end)
	TF_PLUGIN_DIR="$(TF_PLUGIN_ROOT)" $(PY) -m pytest --durations=15 $(PYTEST_ARGS)

# The fast loop runs its tests on every core (pytest-xdist): each worker starts its own emulator.
test-fast: lint ## Lint, type-check and run the tests not marked slow (no Lambda harness, browser, stress or bench run)
	TF_PLUGIN_DIR="$(TF_PLUGIN_ROOT)" $(PY) -m pytest -m "not slow" -n auto $(PYTEST_ARGS)

bench: install ## Run the benchmarks; results in bench/results/
	TF_PLUGIN_DIR="$(TF_PLUGIN_ROOT)" $(PY) -m bench

# The container image and the docker compose stack (LocalStack and the API); `make deploy` adds the Lambda stack.
DOCKER ?= docker
IMAGE ?= product-image-processor:local
# Extra `docker build` flags, for example --network host or --build-arg PYTHON_IMAGE=<local base image>.
DOCKER_BUILD_FLAGS ?=

.PHONY: build up down logs require-docker require-compose

require-docker:
	@command -v $(DOCKER) >/dev/null || { echo "Docker is not installed: get Docker Engine or Docker Desktop from https://docs.docker.com/get-docker/ (or set DOCKER=/path/to/docker)." >&2; exit 1; }

require-compose: require-docker
	@$(DOCKER) compose version >/dev/null 2>&1 || { echo "Docker Compose v2 is not installed: add the compose plugin, see https://docs.docker.com/compose/install/." >&2; exit 1; }

build: require-docker ## Build the service's container image as IMAGE (product-image-processor:local)
	$(DOCKER) build $(DOCKER_BUILD_FLAGS) --tag $(IMAGE) .

up: require-compose ## Start LocalStack and the API in containers, and wait until they are healthy
	@test -n "$${LOCALSTACK_AUTH_TOKEN:-}" || { echo "LOCALSTACK_AUTH_TOKEN is not set: export your LocalStack auth token (https://app.localstack.cloud), or use \`make run\`, which needs none." >&2; exit 1; }
	$(DOCKER) compose up --detach --build --wait
	@echo "API: http://127.0.0.1:8000 (docs at /docs). LocalStack: http://127.0.0.1:4566, ready for \`make deploy\`."

down: require-compose ## Stop and remove the containers (volumes, so the processed images, are kept)
	$(DOCKER) compose down

logs: require-compose ## Follow the containers' logs
	$(DOCKER) compose logs --follow

package: install $(FUNCTION_ZIPS) ## Build the self-contained Lambda function zips (no layers) into build/functions/

# Dependencies for the Lambda platform (the AWS SDK included, uvicorn left out); Python 3.12 bytecode.
$(BUILD)/functions/%.zip: functions/%/app.py $(PACKAGE_SOURCES)
	$(PY) -m tools.build_lambda $* $@ --work $(BUILD)/functions/$*.build

require-terraform:
	@command -v $(TERRAFORM) >/dev/null || { echo "Terraform is not installed: get it from https://developer.hashicorp.com/terraform/install (or set TERRAFORM=/path/to/terraform)." >&2; exit 1; }

# The endpoint is checked (and any warning given) before Terraform starts; after init, the workspace is
# selected or created.
DEPLOY_WORKSPACE = $(or $(TF_WORKSPACE),$$($(PY) -m tools.deploy_target --quiet "$(AWS_ENDPOINT_URL)"))

deploy: require-terraform package ## Deploy bucket, tables, functions and API Gateway to AWS_ENDPOINT_URL (LocalStack; empty = AWS)
	@$(PY) -m tools.deploy_target "$(AWS_ENDPOINT_URL)" >/dev/null
	$(TERRAFORM) -chdir=$(TF_DIR) init $(TF_INIT_FLAGS)
	@workspace="$(DEPLOY_WORKSPACE)"; \
	echo "Terraform workspace: $$workspace"; \
	$(TERRAFORM) -chdir=$(TF_DIR) workspace select -or-create "$$workspace"; \
	TF_WORKSPACE="$$workspace" $(TERRAFORM) -chdir=$(TF_DIR) apply -auto-approve -input=false $(TF_VARS); \
	echo "API URL: $$(TF_WORKSPACE="$$workspace" $(TERRAFORM) -chdir=$(TF_DIR) output -raw api_url)"

destroy: require-terraform ## Remove everything `make deploy` created at AWS_ENDPOINT_URL (its own workspace)
	@$(PY) -m tools.deploy_target "$(AWS_ENDPOINT_URL)" >/dev/null
	$(TERRAFORM) -chdir=$(TF_DIR) init $(TF_INIT_FLAGS)
	@workspace="$(DEPLOY_WORKSPACE)"; \
	echo "Terraform workspace: $$workspace"; \
	$(TERRAFORM) -chdir=$(TF_DIR) workspace select -or-create "$$workspace"; \
	TF_WORKSPACE="$$workspace" $(TERRAFORM) -chdir=$(TF_DIR) destroy -auto-approve -input=false $(TF_VARS)

clean: ## Remove the virtualenv, build outputs and caches
	rm -rf $(VENV) $(CHECKOV_VENV) $(LOCK_VENV) build .run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
