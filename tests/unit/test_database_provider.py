"""The Database provider's transaction boundary, without a database: the entrypoint's outcome
decides commit or rollback, and it happens before the worker returns its result."""

from unittest import mock

import pytest

from dependencies.postgres import Database


class FakeService:
    def __init__(self, outcome):
        self.outcome = outcome
        self.db = None

    def handle(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def run_worker(outcome):
    session = mock.Mock(name="session")
    provider = Database()
    provider.make_session = mock.Mock(return_value=session)
    service = FakeService(outcome)
    worker_ctx = mock.Mock(service=service, entrypoint=mock.Mock(method_name="handle"))
    service.db = provider.get_dependency(worker_ctx)
    provider.worker_setup(worker_ctx)
    try:
        return session, service.handle()
    finally:
        provider.worker_teardown(worker_ctx)
        assert provider.sessions == {}


def test_commits_when_the_entrypoint_returns():
    session, result = run_worker("done")
    assert result == "done"
    assert [c[0] for c in session.mock_calls] == ["commit", "close"]


def test_rollback_then_close_on_error():
    session = mock.Mock(name="session")
    provider = Database()
    provider.make_session = mock.Mock(return_value=session)
    service = FakeService(RuntimeError("boom"))
    worker_ctx = mock.Mock(service=service, entrypoint=mock.Mock(method_name="handle"))
    provider.get_dependency(worker_ctx)
    provider.worker_setup(worker_ctx)
    with pytest.raises(RuntimeError):
        service.handle()
    provider.worker_teardown(worker_ctx)
    assert [c[0] for c in session.mock_calls] == ["rollback", "close"]


def test_a_failing_commit_fails_the_entrypoint():
    session = mock.Mock(name="session")
    session.commit.side_effect = RuntimeError("could not serialize access")
    provider = Database()
    provider.make_session = mock.Mock(return_value=session)
    service = FakeService("looked fine")
    worker_ctx = mock.Mock(service=service, entrypoint=mock.Mock(method_name="handle"))
    provider.get_dependency(worker_ctx)
    provider.worker_setup(worker_ctx)
    with pytest.raises(RuntimeError, match="serialize"):
        service.handle()
    session.rollback.assert_called_once()


CONFIG = {
    "DATABASE_URL": "postgresql://influencer:pw@postgres:5432/influencer",
    "DATABASE_POOL_URL": "postgresql://influencer:pw@pgbouncer:6432/auth",
    "DB_POOL_SIZE": "6",
    "DB_MAX_OVERFLOW": "0",
    "AMQP_URI": "pyamqp://guest:guest@127.0.0.1:5672/",
}


def test_workers_go_through_pgbouncer_and_open_at_most_their_pool():
    container = mock.Mock(config=CONFIG)  # bind() keeps a weak reference
    provider = Database().bind(container, "db")
    provider.setup()
    assert (provider.engine.url.host, provider.engine.url.port) == ("pgbouncer", 6432)
    assert (provider.engine.pool.size(), provider.engine.pool._max_overflow) == (6, 0)
    provider.stop()


def test_without_a_pool_address_workers_use_postgres_itself():
    container = mock.Mock(config={**CONFIG, "DATABASE_POOL_URL": None})
    provider = Database().bind(container, "db")
    provider.setup()
    assert provider.engine.url.host == "postgres"
    provider.stop()


def test_the_outbox_relay_listens_on_postgres_itself_not_through_the_transaction_pool():
    """LISTEN keeps session state, which PgBouncer's transaction mode does not keep."""
    from dependencies.outbox import OutboxRelay
    from scripts.processes import RELAY_CONNECTIONS

    container = mock.Mock(config=CONFIG, service_name="auth")
    relay = OutboxRelay(mock.Mock()).bind(container, "outbox_relay")
    with mock.patch("dependencies.outbox.event_dispatcher"):
        relay.setup()
    assert (relay.engine.url.host, relay.engine.url.port) == ("postgres", 5432)
    # the connection budget counts this many per replica (scripts/processes.py)
    assert relay.engine.pool.size() + relay.engine.pool._max_overflow == RELAY_CONNECTIONS
    relay.engine.dispose()
