# Everything a developer or CI runs goes through these targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help venv provision keys migrate run test test-unit test-integration test-e2e shell seed \
        lint format bench fuzz clean ops-check dashboards-check kong-config k8s-manifests

help:
	@echo "make run     install what is missing, start local services, migrate, run the stack"
	@echo "make test    the whole test suite against real PostgreSQL/Redis/RabbitMQ/ClickHouse"
	@echo "make shell   nameko shell on the running stack (n.rpc.auth.health())"
	@echo "make seed    demo data on the running stack"
	@echo "make lint    ruff check + format check"
	@echo "make bench   benchmarks -> bench/results/*.json"
	@echo "make ops-check  validate Kong, compose, k8s, Prometheus rules, dashboards (+ dashboards-check)"
	@echo "make fuzz    schemathesis against a live stack, as a brand and as a creator"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

provision:
	bash scripts/provision.sh

keys: venv
	$(BIN)/python -m scripts.ensure_keys

migrate: venv provision
	$(BIN)/python -m scripts.migrate

run: venv provision keys migrate
	$(BIN)/python -m scripts.stack

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

BENCH_MODULES ?= gateway marketplace analytics ws tracking

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

# Regenerate deploy/k8s/base/apps/*.yaml and the PrometheusRule after editing their sources.
k8s-manifests: venv
	$(BIN)/python -m scripts.render_k8s

clean:
	rm -rf $(VENV) .state
