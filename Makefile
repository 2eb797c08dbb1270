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
        create-admin \
        lint format bench fuzz clean ops-check dashboards-check kong-config k8s-manifests \
        compose-env lock events-doc

help: ## this list
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "} {printf "make %-17s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) \
	  || { rm -rf $(VENV); bash scripts/provision.sh python && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --require-virtualenv --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --require-virtualenv --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## the virtualenv in .venv with the project and its dev tools

provision: ## install/start local PostgreSQL, Redis, RabbitMQ, ClickHouse and the check tools
	bash scripts/provision.sh

keys: venv ## JWT signing keys in .secrets/ (generated once)
	$(BIN)/python -m scripts.ensure_keys

migrate: venv provision ## migrate every PostgreSQL schema, the ClickHouse database and RabbitMQ's queues
	$(BIN)/python -m scripts.migrate
	$(BIN)/python -m scripts.migrate_queues

SCALE ?= 1

# SCALE=2: two processes of every kind that can run twice on one box (deploy/processes.yml).
run: venv provision keys migrate ## install what is missing, start local services, migrate, run the stack (SCALE=2: two of each)
	SCALE=$(SCALE) $(BIN)/python -m scripts.stack

test: venv provision keys ## the whole test suite against real PostgreSQL/Redis/RabbitMQ/ClickHouse
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv ## the unit tests alone (no services needed)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv provision keys ## service containers on real PostgreSQL/Redis/RabbitMQ/ClickHouse
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv provision keys ## the whole stack as processes, real HTTP and WebSocket clients (SCALE=2: two of each)
	E2E_SCALE=$(SCALE) $(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

shell: venv ## nameko shell on the running stack (n.rpc.auth.health(); act as a user: README)
	$(BIN)/nameko shell --config config.yml

create-admin: venv ## create an admin account: make create-admin EMAIL=ops@example.com (password prompted)
	@test -n "$(EMAIL)" || { echo "usage: make create-admin EMAIL=ops@example.com" >&2; exit 2; }
	$(BIN)/python -m services.auth.admin create-admin --email "$(EMAIL)"

seed: venv ## demo data on the running stack
	$(BIN)/python -m scripts.seed

lint: venv ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## ruff format + autofixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCH_MODULES ?= gateway marketplace analytics ws tracking

bench: venv provision keys migrate ## benchmarks -> bench/results/*.json (+ PNG plots)
	set -e; for module in $(BENCH_MODULES); do \
	  if [ -f bench/$$module.py ]; then $(BIN)/python -m bench.$$module; fi; \
	done

fuzz: venv provision keys ## schemathesis against a live stack, as a brand and as a creator
	$(BIN)/python -m scripts.api_fuzz

# Static validation of every operations artefact (offline), then the live dashboards check.
ops-check: venv provision ## validate Kong, compose, k8s, Prometheus rules, dashboards (+ dashboards-check)
	$(BIN)/python -m scripts.ops_check
	$(MAKE) dashboards-check

# Every Grafana panel query against Prometheus scraping the stack under a short load.
dashboards-check: venv provision keys ## every Grafana panel query against Prometheus scraping a loaded stack
	$(BIN)/python -m scripts.dashboards_check

# kong/kong.rendered.yml: kong/kong.yml + the JWT credential for .secrets' public key.
kong-config: venv keys ## kong/kong.rendered.yml with the JWT credential for the local public key
	$(BIN)/python -m scripts.render_kong

# Regenerate the Kubernetes manifests and docker-compose.yml after editing deploy/processes.yml,
# the renderers or deploy/prometheus/rules.
k8s-manifests: venv ## regenerate the k8s manifests and docker-compose.yml from deploy/processes.yml
	$(BIN)/python -m scripts.render_k8s
	$(BIN)/python -m scripts.render_compose

events-doc: venv ## regenerate docs/events.md from the event contracts (kernel/events.py)
	$(BIN)/python -m scripts.event_docs

# Re-pin every package (with hashes) after changing pyproject.toml's dependencies.
LOCK_FLAGS := --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: venv ## re-pin every package with hashes (requirements/*.lock) from pyproject.toml
	$(BIN)/pip-compile -q $(LOCK_FLAGS) --output-file requirements/runtime.lock pyproject.toml
	$(BIN)/pip-compile -q $(LOCK_FLAGS) --extra dev --extra bench --output-file $(LOCK) pyproject.toml

# .env for docker-compose: generated passwords (PostgreSQL, Grafana, one per RabbitMQ account).
compose-env: venv ## .env with generated passwords for docker-compose
	$(BIN)/python -m scripts.compose_env

clean: ## remove .venv and .state
	rm -rf $(VENV) .state
