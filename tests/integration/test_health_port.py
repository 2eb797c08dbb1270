"""The per-process health port (dependencies/health.py) that Kubernetes probes and compose
healthchecks ask instead of sending a health RPC any replica could answer."""

import pytest
import requests
from nameko.rpc import rpc

from dependencies.health import HealthRpc, HealthServer
from scripts.isolated_stack import free_port

pytestmark = pytest.mark.integration


class Probed:
    name = "probed"
    health_server = HealthServer()

    @rpc
    def ping(self) -> str:
        return "pong"


def test_health_port_answers_for_this_process(container_factory, rabbit_config):
    port = free_port()
    container = container_factory(Probed, {**rabbit_config, "HEALTH_PORT": port})
    container.start()

    base = f"http://127.0.0.1:{port}"
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"consumers": "ok", "rabbitmq": "ok"}}
    assert requests.get(f"{base}/nothing", timeout=5).status_code == 404

    container.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)


def test_readyz_fails_when_the_broker_refuses_this_account(container_factory, rabbit_config):
    port = free_port()
    container = container_factory(Probed, {**rabbit_config, "HEALTH_PORT": port})
    container.start()
    server = next(d for d in container.dependencies if isinstance(d, HealthServer))
    # The same container with a broker account that no longer works (rotated password).
    container.config["AMQP_URI"] = rabbit_config["AMQP_URI"].replace("guest:guest", "guest:wrong")

    ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)

    assert ready.status_code == 503
    assert ready.json()["checks"]["rabbitmq"].startswith("unreachable")
    assert server.checks()["consumers"] == (True, "ok")


def test_every_service_gets_the_health_port_from_its_base_class():
    assert isinstance(HealthRpc.health_server, HealthServer)


def test_health_port_off_by_default(container_factory, rabbit_config):
    container = container_factory(Probed, rabbit_config)
    container.start()
    server = next(d for d in container.dependencies if isinstance(d, HealthServer))
    assert server.listener is None
