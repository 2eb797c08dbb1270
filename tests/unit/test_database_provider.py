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
