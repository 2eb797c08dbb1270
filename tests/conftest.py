"""Shared test wiring. Tests run against the real local PostgreSQL, Redis, RabbitMQ and ClickHouse,
isolated from a running `make run` stack: database influencer_test, Redis db 15, ClickHouse
database analytics_test, a RabbitMQ vhost per test (nameko's rabbit_config fixture) or the
influencer_e2e vhost for whole-stack tests."""

import eventlet

eventlet.monkey_patch()  # nameko's containers need a patched process; must precede other imports

import os  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import redis as redis_lib  # noqa: E402
from psycopg2.errors import DeadlockDetected  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from dependencies.postgres import sqlalchemy_url  # noqa: E402
from kernel.config import load_config  # noqa: E402

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/influencer_test"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_CLICKHOUSE_URL = os.environ.get(
    "TEST_CLICKHOUSE_URL", "clickhouse://default@127.0.0.1:9000/analytics_test"
)
SERVICE_SCHEMAS = ("auth", "users", "campaigns", "applications", "analytics")


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def migrated_database() -> Iterator[Engine]:
    from scripts.isolated_stack import migrate_database

    migrate_database(TEST_DATABASE_URL, TEST_CLICKHOUSE_URL)
    engine = create_engine(sqlalchemy_url(TEST_DATABASE_URL))
    yield engine
    engine.dispose()


@pytest.fixture
def db_engine(migrated_database: Engine) -> Engine:
    """A migrated test database with every service table emptied before the test."""
    # TRUNCATE locks the tables one by one while the e2e stack's services keep reading them, so
    # PostgreSQL may end it as a deadlock's victim: emptying again then is the remedy.
    for _ in range(TRUNCATE_ATTEMPTS - 1):
        try:
            empty_service_tables(migrated_database)
            return migrated_database
        except OperationalError as error:
            if not isinstance(error.orig, DeadlockDetected):
                raise
    empty_service_tables(migrated_database)  # the last attempt raises whatever it meets
    return migrated_database


TRUNCATE_ATTEMPTS = 5


def empty_service_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        tables = (
            connection.execute(
                text(
                    "SELECT schemaname || '.' || tablename FROM pg_tables "
                    "WHERE schemaname = ANY(:schemas) AND tablename <> 'alembic_version'"
                ),
                {"schemas": list(SERVICE_SCHEMAS)},
            )
            .scalars()
            .all()
        )
        if tables:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))


@pytest.fixture
def clickhouse(migrated_database: Engine) -> Iterator[Any]:
    """A client on the test ClickHouse database, created afresh for the test. (Not TRUNCATE:
    ClickHouse 18.16 deletes truncated parts lazily, and a server restart brings them back.)"""
    from dependencies.clickhouse import make_client
    from services.analytics import clickhouse_schema

    clickhouse_schema.drop(TEST_CLICKHOUSE_URL)
    clickhouse_schema.migrate(TEST_CLICKHOUSE_URL)
    client = make_client(TEST_CLICKHOUSE_URL)
    yield client
    client.disconnect()


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def base_config() -> dict[str, Any]:
    """config.yml as the processes read it, pointed at the test database and Redis db."""
    config = load_config()
    config["DATABASE_URL"] = TEST_DATABASE_URL
    config["REDIS_URL"] = TEST_REDIS_URL
    config["CLICKHOUSE_URL"] = TEST_CLICKHOUSE_URL
    config["METRICS_PORT"] = 0
    return config


@pytest.fixture
def service_config(
    base_config: dict[str, Any],
    rabbit_config: dict[str, Any],
    db_engine: Engine,
    redis_client: redis_lib.Redis,
) -> dict[str, Any]:
    """Config for a service container in this test's own RabbitMQ vhost."""
    return {**base_config, "AMQP_URI": rabbit_config["AMQP_URI"]}


@pytest.fixture
def web_session(web_config_port: int) -> Iterator[Any]:
    """nameko's `web_session` (a requests session for the container's web server at relative
    URLs), which this replaces: nameko 2.14's imports `werkzeug.urls.url_join`, gone in Werkzeug
    3. Same fixture name and contract, joined with urllib."""
    from urllib.parse import urljoin

    import requests

    base = f"http://127.0.0.1:{web_config_port}/"

    class WebSession(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("timeout", 10)
            return super().request(method, urljoin(base, url), *args, **kwargs)

    with WebSession() as session:
        yield session
