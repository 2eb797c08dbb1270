"""Retention on the real PostgreSQL: relayed outbox rows older than RETENTION.OUTBOX_DAYS and
processed-event ids older than RETENTION.PROCESSED_EVENTS_DAYS are deleted; a pending outbox row
never is, recent rows stay. The outbox relay and the consumers' timers prune when they start."""

import uuid

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from dependencies import consumers
from dependencies.consumers import prune_processed
from dependencies.outbox import prune_published
from services.applications.models import outbox, processed_events
from services.applications.service import ApplicationsService
from services.users.models import processed_events as users_processed_events
from services.users.service import UsersService
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


def days_ago(days: float):
    return text(f"now() - interval '{days} days'")


def add_row(engine, table, **values) -> None:
    with engine.begin() as connection:
        connection.execute(insert(table).values(**values))


def add_outbox_row(engine, created_days_ago: float, published_days_ago: float | None) -> uuid.UUID:
    row_id = uuid.uuid4()
    add_row(
        engine,
        outbox,
        id=row_id,
        event_type="test_event",
        payload={"event_id": str(row_id)},
        created_at=days_ago(created_days_ago),
        published_at=None if published_days_ago is None else days_ago(published_days_ago),
    )
    return row_id


def add_claim(engine, table, days: float) -> uuid.UUID:
    event_id = uuid.uuid4()
    add_row(engine, table, event_id=event_id, event_type="x.y", processed_at=days_ago(days))
    return event_id


def stored(engine, column) -> set[uuid.UUID]:
    with engine.connect() as connection:
        return set(connection.execute(select(column)).scalars())


def outbox_ids(engine) -> set[uuid.UUID]:
    return stored(engine, outbox.c.id)


def claim_ids(engine, table) -> set[uuid.UUID]:
    return stored(engine, table.c.event_id)


def test_relayed_outbox_rows_past_retention_are_deleted_and_pending_ones_never(db_engine):
    old_relayed = add_outbox_row(db_engine, 10, 9)
    old_pending = add_outbox_row(db_engine, 30, None)
    recent_relayed = add_outbox_row(db_engine, 8, 6)  # created long ago, relayed recently
    fresh_pending = add_outbox_row(db_engine, 0, None)
    assert prune_published(db_engine, outbox, days=7) == 1
    assert outbox_ids(db_engine) == {old_pending, recent_relayed, fresh_pending}
    assert old_relayed not in outbox_ids(db_engine)
    assert prune_published(db_engine, outbox, days=7) == 0


def test_processed_event_ids_past_retention_are_deleted(db_engine):
    old = add_claim(db_engine, processed_events, 31)
    recent = add_claim(db_engine, processed_events, 29)
    with Session(db_engine) as session:
        assert prune_processed(session, processed_events, days=30) == 1
        session.commit()
    assert claim_ids(db_engine, processed_events) == {recent}
    assert old not in claim_ids(db_engine, processed_events)


def test_pruning_goes_on_batch_after_batch_until_nothing_is_left(db_engine, monkeypatch):
    monkeypatch.setattr(consumers, "PRUNE_BATCH", 2)
    for _ in range(5):
        add_outbox_row(db_engine, 10, 9)
    pending = add_outbox_row(db_engine, 10, None)
    for _ in range(4):
        add_claim(db_engine, processed_events, 31)
    recent_claim = add_claim(db_engine, processed_events, 1)

    assert prune_published(db_engine, outbox, days=7) == 5
    with Session(db_engine) as session:
        assert prune_processed(session, processed_events, days=30) == 4
        session.commit()

    assert outbox_ids(db_engine) == {pending}
    assert claim_ids(db_engine, processed_events) == {recent_claim}


def test_services_prune_when_they_start(db_engine, container_factory, service_config):
    config = {**service_config, "RETENTION": {"OUTBOX_DAYS": 2, "PROCESSED_EVENTS_DAYS": 3}}
    old_relayed = add_outbox_row(db_engine, 5, 4)
    pending = add_outbox_row(db_engine, 5, None)
    recent_relayed = add_outbox_row(db_engine, 1, 1)
    old_claim = add_claim(db_engine, processed_events, 4)
    recent_claim = add_claim(db_engine, processed_events, 2)
    old_user_claim = add_claim(db_engine, users_processed_events, 4)
    for service in (ApplicationsService, UsersService):
        container_factory(service, config).start()
    wait_until(lambda: old_relayed not in outbox_ids(db_engine))
    wait_until(lambda: old_claim not in claim_ids(db_engine, processed_events))
    wait_until(lambda: old_user_claim not in claim_ids(db_engine, users_processed_events))
    assert {pending, recent_relayed} <= outbox_ids(db_engine)
    assert recent_claim in claim_ids(db_engine, processed_events)
