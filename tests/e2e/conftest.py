"""The whole stack as processes (scripts.stack, exactly as `make run` starts it) in its own
RabbitMQ vhost, test database and Redis db, on free ports."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine

from scripts.isolated_stack import delete_vhost, free_metrics_base, free_port, fresh_vhost
from scripts.stack import Stack, default_processes
from tests.conftest import TEST_CLICKHOUSE_URL, TEST_DATABASE_URL, TEST_REDIS_URL
from tests.e2e.chat import Chat, Hubs, accepted_chat, two_hubs

E2E_VHOST = os.environ.get("E2E_VHOST", "influencer_e2e")
# E2E_SCALE=2: the suite against two processes of every kind that can run twice (make run SCALE=2).
E2E_SCALE = int(os.environ.get("E2E_SCALE", "1"))


@dataclass
class RunningStack:
    stack: Stack
    base_url: str
    env: dict[str, str]
    ws_url: str = ""

    def url(self, path: str) -> str:
        return self.base_url + path


# Package scope: the stack stops when the e2e tests are done. Its auth service relays rows from
# the test database's outboxes; left running, it would publish the integration tests' events into
# its own vhost before their relay could.
@pytest.fixture(scope="package")
def running_stack(migrated_database: Engine) -> Iterator[RunningStack]:
    gateway_port, ws_port = free_port(), free_port()
    mongo_dir = tempfile.mkdtemp(prefix="e2e-mongo-")
    env = {
        "AMQP_URI": fresh_vhost(E2E_VHOST),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "CLICKHOUSE_URL": TEST_CLICKHOUSE_URL,
        "ANALYTICS_REPORT_CACHE_SECONDS": "0",
        "MONGO_URL": f"embedded://{mongo_dir}",
        "RATE_LIMIT_PER_IP": "1000/minute",
        # every test registers its accounts from 127.0.0.1 (the limit has its own tests)
        "REGISTRATIONS_PER_IP": "10000/hour",
        "TRACKING_PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "LOG_LEVEL": "WARNING",
    }
    metrics_base = free_metrics_base(avoid=(gateway_port, ws_port))
    processes = default_processes(gateway_port, metrics_base, ws_port, scale=E2E_SCALE)
    stack = Stack(processes, env=env, echo=False)
    stack.start()
    try:
        stack.wait_ready(timeout=90)
        yield RunningStack(
            stack, f"http://127.0.0.1:{gateway_port}", env, f"ws://127.0.0.1:{ws_port}/ws"
        )
    finally:
        stack.stop()
        delete_vhost(E2E_VHOST)
        shutil.rmtree(mongo_dir, ignore_errors=True)


@pytest.fixture
def api(running_stack: RunningStack, db_engine: Engine, redis_client, clickhouse) -> RunningStack:
    """The running stack with an empty database, Redis and ClickHouse for this test."""
    return running_stack


@pytest.fixture(scope="module")
def hubs(running_stack: RunningStack) -> Iterator[Hubs]:
    """Chat tests: two more ws processes (ws-a, ws-b) for the module."""
    with two_hubs(running_stack) as started:
        yield started


@pytest.fixture
def chat(api: RunningStack) -> Chat:
    """Chat tests: a brand and the creator it accepted, and their conversation."""
    return accepted_chat(api)
