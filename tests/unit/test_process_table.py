"""deploy/processes.yml against the code and against everything generated from it: a process
that uses a store (as its Nameko dependency providers and entrypoints show) must be given that
store by its NetworkPolicy, its Deployment's environment and its compose service."""

import shutil
import subprocess
from functools import cache
from typing import Any

import pytest
import yaml

from kernel.config import PROJECT_ROOT
from scripts import render_compose, render_k8s
from scripts.processes import (
    JOBS,
    PROCESSES,
    STORE_ENV,
    ProcessSpec,
    load_raw_yaml,
    stores_used,
)
from scripts.stack import default_processes

NAMEKO_PROCESSES = [p for p in PROCESSES if p.runner == "nameko"]
WS_STORES = {"redis", "rabbitmq"}  # ws/server.py: make_redis, RpcPool, the fan-out container


@cache
def kustomize(path: str) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (bash scripts/provision.sh)")
    done = subprocess.run(
        ["kubectl", "kustomize", str(PROJECT_ROOT / "deploy" / "k8s" / path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def code_stores(process: ProcessSpec) -> set[str]:
    if process.name == "ws":
        return WS_STORES
    if process.name == "migrate":
        return {"postgres", "clickhouse"}  # scripts/migrate.py: alembic + clickhouse_schema
    service_class = process.service_class()
    assert service_class is not None
    stores, unknown = stores_used(service_class)
    assert not unknown, f"classify these in scripts/processes.py PROVIDER_STORES: {unknown}"
    return stores


@pytest.mark.parametrize("process", NAMEKO_PROCESSES, ids=lambda p: p.name)
def test_table_lists_exactly_the_stores_the_code_uses(process):
    assert set(process.stores) == code_stores(process)


def admitted(policy: dict[str, Any]) -> set[str]:
    return {
        name
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        for expression in peer.get("podSelector", {}).get("matchExpressions", [])
        for name in expression["values"]
    }


def shut_out(process: ProcessSpec, policies: dict[str, dict[str, Any]]) -> list[str]:
    """The stores `process` uses whose NetworkPolicy keeps it out."""
    return sorted(
        store
        for store in code_stores(process)
        if process.name not in admitted(policies[f"{store}-from-owners"])
    )


@pytest.mark.parametrize("process", [*PROCESSES, *JOBS], ids=lambda p: p.name)
def test_network_policy_admits_the_process_to_every_store_it_uses(process):
    policies = {
        doc["metadata"]["name"]: doc
        for doc in kustomize("overlays/local")
        if doc["kind"] == "NetworkPolicy"
    }
    assert shut_out(process, policies) == []


def test_policy_check_catches_the_policies_that_shut_analytics_out():
    # Before the table: PostgreSQL and Redis admitted the services that "owned" them, and
    # analytics (ingestion keys and campaign directory in PostgreSQL, report cache in Redis)
    # was in neither.
    def policy(owners: list[str]) -> dict[str, Any]:
        selector = {"matchExpressions": [{"key": "k", "operator": "In", "values": owners}]}
        return {"spec": {"ingress": [{"from": [{"podSelector": selector}]}]}}

    before = {
        "postgres-from-owners": policy(["auth", "users", "campaigns", "applications", "migrate"]),
        "redis-from-owners": policy(["auth", "users", "campaigns", "gateway-http", "ws"]),
        "rabbitmq-from-owners": policy([p.name for p in PROCESSES]),
        "clickhouse-from-owners": policy(["analytics", "migrate"]),
    }
    analytics = next(p for p in PROCESSES if p.name == "analytics")
    assert shut_out(analytics, before) == ["postgres", "redis"]


@pytest.mark.parametrize("process", [*PROCESSES, *JOBS], ids=lambda p: p.name)
def test_deployment_environment_gives_exactly_the_stores_used(process):
    kind = "Job" if process.job else "Deployment"
    workload = next(
        doc
        for doc in kustomize("overlays/local")
        if doc["kind"] == kind and doc["metadata"]["name"] == process.name
    )
    container = workload["spec"]["template"]["spec"]["containers"][0]
    given = {entry["name"] for entry in container["env"]} & set(STORE_ENV.values())
    assert given == {STORE_ENV[s] for s in code_stores(process)}
    config_maps = [ref["configMapRef"]["name"] for ref in container.get("envFrom", [])]
    assert config_maps == ["platform-config"]  # no store address through envFrom
    platform_config = next(
        doc
        for doc in kustomize("overlays/local")
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "platform-config"
    )
    assert not set(platform_config["data"]) & set(STORE_ENV.values())


@pytest.mark.parametrize("process", [*PROCESSES, *JOBS], ids=lambda p: p.name)
def test_compose_service_gives_exactly_the_stores_used(process):
    services = load_raw_yaml(render_compose.COMPOSE_FILE.read_text())["services"]
    for name in render_compose.compose_names(process):
        service = services[name]
        given = set(service["environment"]) & set(STORE_ENV.values())
        assert given == {STORE_ENV[s] for s in code_stores(process)}, name
        waits_for = set(service["depends_on"])
        assert code_stores(process) <= waits_for, name


def test_committed_artefacts_are_generated_from_the_table():
    assert render_k8s.main(["--check"]) == 0
    assert render_compose.main(["--check"]) == 0


def test_local_runner_starts_every_process_of_the_table():
    local = {process.command[-1] for process in default_processes(8000, 9100, 8001)}
    assert local == {process.target for process in PROCESSES}


def test_scale_two_runs_every_kind_twice_except_the_embedded_message_store(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "embedded:///tmp/x")
    names = [process.name for process in default_processes(8000, 9100, 8001, scale=2)]
    assert "messaging-2" not in names
    assert {"auth-2", "gateway_http-2", "ws-2", "analytics-2"} <= set(names)
    monkeypatch.setenv("MONGO_URL", "mongodb://mongodb:27017/influencer")
    assert "messaging-2" in [p.name for p in default_processes(8000, 9100, 8001, scale=2)]


def test_prometheus_scrapes_every_process_on_its_table_port():
    local = yaml.safe_load((PROJECT_ROOT / "deploy/prometheus/prometheus.local.yml").read_text())
    compose = yaml.safe_load(
        (PROJECT_ROOT / "deploy/prometheus/prometheus.compose.yml").read_text()
    )
    local_jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in local["scrape_configs"]}
    compose_jobs = {
        j["job_name"]: j["static_configs"][0]["targets"] for j in compose["scrape_configs"]
    }
    for process in PROCESSES:
        port = process.scrape_port
        assert local_jobs[process.job_name] == [f"127.0.0.1:{port}"]
        hosts = render_compose.compose_names(process)
        assert compose_jobs[process.job_name] == [f"{host}:{port}" for host in hosts]


def test_kong_routes_reach_only_the_client_facing_processes():
    kong = yaml.safe_load(render_compose.KONG_FILE.read_text())
    targets = {t["target"] for u in kong["upstreams"] for t in u["targets"]}
    expected = {
        f"{name}:{process.http_port}"
        for process in PROCESSES
        if process.http_port
        for name in render_compose.compose_names(process)
    }
    assert targets == expected
    backends = {
        path["backend"]["service"]["name"]
        for doc in kustomize("overlays/local")
        if doc["kind"] == "Ingress"
        for rule in doc["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {process.name for process in PROCESSES if process.http_port}
