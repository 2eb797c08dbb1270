"""Dependency providers against the real PostgreSQL, Redis and RabbitMQ."""

import uuid

import pytest
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text

from dependencies import outbox as outbox_module
from dependencies.outbox import OutboxRelay, record_event, relay_pending
from dependencies.postgres import Database
from dependencies.redis import Redis
from services.auth.models import outbox
from tests.conftest import wait_until
from tests.sample_events import revoked

pytestmark = pytest.mark.integration

RELAYED: list[dict] = []


class ProbeService:
    """Writes rows into auth.outbox (any table would do) to observe commit and rollback."""

    name = "probe"
    db = Database()
    redis = Redis()
    relay = OutboxRelay(outbox)

    @rpc
    def write(self, marker: str, fail: bool = False) -> str:
        record_event(self.db, outbox, "session_revoked", revoked(marker))
        if fail:
            raise ValueError("fail after writing")
        return marker

    @rpc
    def remember(self, key: str, value: str) -> str | None:
        self.redis.set(key, value)
        return self.redis.get(key)


class ProbeListener:
    name = "probe_listener"

    @event_handler("probe", "session_revoked")
    def on_probed(self, payload):
        RELAYED.append(payload)


def markers(db_engine) -> list[str]:
    with db_engine.connect() as connection:
        return (
            connection.execute(text("SELECT payload->>'reason' FROM auth.outbox")).scalars().all()
        )


@pytest.fixture
def probe(container_factory, service_config):
    RELAYED.clear()
    container_factory(ProbeListener, service_config).start()
    container_factory(ProbeService, service_config).start()
    with ServiceRpcProxy("probe", service_config) as proxy:
        yield proxy


def test_database_commits_when_the_entrypoint_returns(probe, db_engine):
    assert probe.write("kept") == "kept"
    assert markers(db_engine) == ["kept"]  # committed before the reply arrived


def test_database_rolls_back_when_the_entrypoint_raises(probe, db_engine):
    with pytest.raises(Exception, match="fail after writing"):
        probe.write("dropped", fail=True)
    assert markers(db_engine) == []


def test_outbox_relay_publishes_committed_events_once(probe):
    probe.write("one")
    probe.write("two")
    wait_until(lambda: len(RELAYED) == 2)
    assert sorted(event["reason"] for event in RELAYED) == ["one", "two"]
    assert len({event["event_id"] for event in RELAYED}) == 2


def test_redis_provider_round_trips(probe):
    key = f"probe:{uuid.uuid4()}"
    assert probe.remember(key, "value") == "value"


def test_relay_keeps_rows_pending_while_publishing_fails(db_engine):
    from sqlalchemy.orm import Session

    with Session(db_engine) as session:
        for marker in ("a", "b", "c"):
            record_event(session, outbox, "session_revoked", revoked(marker))
        session.commit()

    def broker_down(*_args):
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        relay_pending(db_engine, outbox, broker_down, "probe")
    assert outbox_module.pending_count(db_engine, outbox) == 3

    published: list[tuple] = []
    assert relay_pending(db_engine, outbox, lambda *args: published.append(args), "probe") == 3
    assert [args[2]["reason"] for args in published] == ["a", "b", "c"]
    assert outbox_module.pending_count(db_engine, outbox) == 0
    assert relay_pending(db_engine, outbox, lambda *args: published.append(args), "probe") == 0


def test_relay_publishes_before_any_consumer_declared_the_exchange(
    container_factory, service_config, db_engine
):
    container_factory(ProbeService, service_config).start()  # no listener in this vhost
    with ServiceRpcProxy("probe", service_config) as proxy:
        proxy.write("early")
    wait_until(lambda: outbox_module.pending_count(db_engine, outbox) == 0)
