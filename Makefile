# Dataset Research Assistant — one target per workflow. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: help setup protos dev test test-unit test-integration lint migrate up down bench clean

help: ## Show the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	# torch first and pinned: the CPU build lies on this machine's disk (see README).
	$(PIP) install --quiet "torch==2.13.0" "grpcio-tools>=1.66"
	$(PY) protos/generate_python.py
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP) protos ## Create .venv, install everything (with the `dra` tool), generate gRPC code

protos: ## Generate Python gRPC code from protos/ into services/common/dra/
	$(PY) protos/generate_python.py

dev: setup ## Run the whole stack locally (embedded Postgres/Redis when none is configured); Ctrl-C stops it
	HF_HUB_OFFLINE=1 $(VENV)/bin/dra dev

test: setup ## Run every test (real Postgres and Redis; see README)
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest

test-unit: setup ## Unit tests only (no network)
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest tests/unit

test-integration: setup ## Integration and end-to-end tests (real processes)
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest tests/integration tests/e2e

lint: setup ## ruff
	$(VENV)/bin/ruff check services tests protos benchmarks

migrate: setup ## Apply database migrations to DATABASE_URL
	$(VENV)/bin/dra db upgrade

bench: setup ## Run the benchmarks (prints figures)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/run_all.py

up: ## docker compose up --build (machines with a Docker engine)
	docker compose up --build

down: ## docker compose down
	docker compose down

clean: ## Remove the local state of `make dev` (embedded databases, logs)
	rm -rf .dra
