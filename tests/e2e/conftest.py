"""The whole stack as processes (scripts.stack, exactly as `make run` starts it) in its own
RabbitMQ vhost, test database and Redis db, on free ports."""

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy.engine import Engine

from scripts.stack import Stack, default_processes, free_metrics_base
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL

RABBIT_API = os.environ.get("RABBIT_API", "http://guest:guest@127.0.0.1:15672/api")
E2E_VHOST = os.environ.get("E2E_VHOST", "influencer_e2e")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_vhost(name: str) -> str:
    requests.delete(f"{RABBIT_API}/vhosts/{name}", timeout=10)
    requests.put(f"{RABBIT_API}/vhosts/{name}", timeout=10).raise_for_status()
    requests.put(
        f"{RABBIT_API}/permissions/{name}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        timeout=10,
    ).raise_for_status()
    return f"pyamqp://guest:guest@127.0.0.1:5672/{name}"


@dataclass
class RunningStack:
    stack: Stack
    base_url: str
    env: dict[str, str]

    def url(self, path: str) -> str:
        return self.base_url + path


# Package scope: the stack stops once the e2e tests are done, so its outbox relays do not race
# the integration tests that run later in the same session against the same database.
@pytest.fixture(scope="package")
def running_stack(migrated_database: Engine) -> Iterator[RunningStack]:
    gateway_port = free_port()
    env = {
        "AMQP_URI": fresh_vhost(E2E_VHOST),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "RATE_LIMIT_PER_IP": "1000/minute",
        "LOG_LEVEL": "WARNING",
    }
    stack = Stack(
        default_processes(gateway_port, metrics_base=free_metrics_base()), env=env, echo=False
    )
    stack.start()
    try:
        stack.wait_ready(timeout=90)
        yield RunningStack(stack, f"http://127.0.0.1:{gateway_port}", env)
    finally:
        stack.stop()
        requests.delete(f"{RABBIT_API}/vhosts/{E2E_VHOST}", timeout=10)


@pytest.fixture
def api(running_stack: RunningStack, db_engine: Engine, redis_client) -> RunningStack:
    """The running stack with an empty database and Redis for this test."""
    return running_stack
