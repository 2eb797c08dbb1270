# Everything a developer or CI runs goes through these targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every package, transitive ones included, pinned with its hashes (requirements/*.lock, made by
# `make lock` from pyproject.toml): a fresh clone installs exactly what CI and the image install.
LOCK := requirements/dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)

.PHONY: help venv provision keys migrate run test test-unit test-integration test-e2e shell seed \
        lint format bench fuzz clean ops-check dashboards-check kong-config k8s-manifests \
        compose-env lock

help:
	@echo "make run     install what is missing, start local services, migrate, run the stack"
	@echo "make test    the whole test suite against real PostgreSQL/Redis/RabbitMQ/ClickHouse"
	@echo "make shell   nameko shell on the running stack (n.rpc.auth.health())"
	@echo "make seed    demo data on the running stack"
	@echo "make lint    ruff check + format check"
	@echo "make bench   benchmarks -> bench/results/*.json"
	@echo "make ops-check  validate Kong, compose, k8s, Prometheus rules, dashboards (+ dashboards-check)"
	@echo "make fuzz    schemathesis against a live stack, as a brand and as a creator"

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) \
	  || { rm -rf $(VENV); bash scripts/provision.sh python && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --require-virtualenv --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --require-virtualenv --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

provision:
	bash scripts/provision.sh

keys: venv
	$(BIN)/python -m scripts.ensure_keys

migrate: venv provision
	$(BIN)/python -m scripts.migrate

SCALE ?= 1

# SCALE=2: two processes of every kind that can run twice on one box (deploy/processes.yml).
run: venv provision keys migrate
	SCALE=$(SCALE) $(BIN)/python -m scripts.stack

test: venv provision keys
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

shell: venv
	$(BIN)/nameko shell --config config.yml

seed: venv
	$(BIN)/python -m scripts.seed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCH_MODULES ?= gateway marketplace analytics ws

bench: venv provision keys migrate
	set -e; for module in $(BENCH_MODULES); do \
	  if [ -f bench/$$module.py ]; then $(BIN)/python -m bench.$$module; fi; \
	done

fuzz: venv provision keys
	$(BIN)/python -m scripts.api_fuzz

# Static validation of every operations artefact (offline), then the live dashboards check.
ops-check: venv provision
	$(BIN)/python -m scripts.ops_check
	$(MAKE) dashboards-check

# Every Grafana panel query against Prometheus scraping the stack under a short load.
dashboards-check: venv provision keys
	$(BIN)/python -m scripts.dashboards_check

# kong/kong.rendered.yml: kong/kong.yml + the JWT credential for .secrets' public key.
kong-config: venv keys
	$(BIN)/python -m scripts.render_kong

# Regenerate the Kubernetes manifests and docker-compose.yml after editing deploy/processes.yml,
# the renderers or deploy/prometheus/rules.
k8s-manifests: venv
	$(BIN)/python -m scripts.render_k8s
	$(BIN)/python -m scripts.render_compose

# Re-pin every package (with hashes) after changing pyproject.toml's dependencies.
LOCK_FLAGS := --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: venv
	$(BIN)/pip-compile -q $(LOCK_FLAGS) --output-file requirements/runtime.lock pyproject.toml
	$(BIN)/pip-compile -q $(LOCK_FLAGS) --extra dev --extra bench --output-file $(LOCK) pyproject.toml

# .env for docker-compose: generated passwords (PostgreSQL, Grafana, one per RabbitMQ account).
compose-env: venv
	$(BIN)/python -m scripts.compose_env

clean:
	rm -rf $(VENV) .state
