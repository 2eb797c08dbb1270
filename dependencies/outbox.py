"""Transactional outbox: events are written in the same PostgreSQL transaction as the change they
describe, then relayed to RabbitMQ after commit, so a broker outage loses nothing.

- `outbox_table(metadata)` declares the `<schema>.outbox` table a service owns.
- `record_event(session, table, event_type, payload)` adds a row, and a NOTIFY that fires
  on commit.
- `OutboxRelay(table)` runs in the service container: it wakes on NOTIFY (or every few seconds),
  claims pending rows with SKIP LOCKED so replicas never publish the same row concurrently,
  publishes each as a Nameko event with publisher confirms, and marks it published. A failure
  leaves the rows pending for the next pass: delivery is at least once, consumers dedupe on
  `event_id`. Every hour (and when it starts) it deletes rows published more than
  `RETENTION.OUTBOX_DAYS` ago (default 7); a pending row is never deleted.
"""

import datetime as dt
import logging
import select
import time
import uuid
from typing import Any

import eventlet
import prometheus_client
from nameko.events import get_event_exchange
from nameko.extensions import DependencyProvider
from nameko.standalone.events import event_dispatcher
from sqlalchemy import (
    Column,
    DateTime,
    Delete,
    Engine,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    insert,
    text,
    update,
)
from sqlalchemy import (
    select as sql_select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from dependencies.consumers import (
    PRUNE_INTERVAL_SECONDS,
    PRUNED_ROWS,
    delete_in_batches,
    retention_days,
)
from dependencies.postgres import make_engine
from kernel.events import new_event

log = logging.getLogger(__name__)

OUTBOX_PENDING = prometheus_client.Gauge(
    "outbox_pending_events", "Events written but not yet published.", ["service"]
)
OUTBOX_PUBLISHED = prometheus_client.Counter(
    "outbox_published_events_total", "Events relayed from the outbox to RabbitMQ.", ["service"]
)

BATCH_SIZE = 100
SWEEP_SECONDS = 2.0
RETRY_SECONDS = 1.0


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
    )
    Index(
        f"ix_{metadata.schema}_outbox_pending",
        table.c.created_at,
        postgresql_where=table.c.published_at.is_(None),
    )
    return table


def notify_channel(table: Table) -> str:
    return f"{table.schema}_outbox"


def record_event(session: Session, table: Table, event_type: str, payload: dict[str, Any]) -> str:
    # the outbox table lives in its service's schema, which names the event's source
    body = new_event(str(table.schema), event_type, payload)
    session.execute(
        insert(table).values(id=uuid.UUID(body["event_id"]), event_type=event_type, payload=body)
    )
    session.execute(text(f"NOTIFY {notify_channel(table)}"))
    return body["event_id"]


def relay_pending(engine: Engine, table: Table, publish: Any, service_name: str) -> int:
    """Publish pending rows in batches; return how many were published."""
    published = 0
    while True:
        with engine.begin() as connection:
            rows = connection.execute(
                sql_select(table.c.id, table.c.event_type, table.c.payload)
                .where(table.c.published_at.is_(None))
                .order_by(table.c.created_at)
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                OUTBOX_PENDING.labels(service_name).set(0)
                return published
            for row in rows:
                publish(service_name, row.event_type, row.payload)
            connection.execute(
                update(table)
                .where(table.c.id.in_([row.id for row in rows]))
                .values(published_at=func.now())
            )
        published += len(rows)
        OUTBOX_PUBLISHED.labels(service_name).inc(len(rows))


def prune_published(engine: Engine, table: Table, days: float) -> int:
    """Delete rows published more than `days` ago, a batch per transaction; never a pending row."""
    cutoff = func.now() - dt.timedelta(days=days)

    def run(statement: Delete) -> int:
        with engine.begin() as connection:
            return connection.execute(statement).rowcount

    return delete_in_batches(
        run, table, table.c.id, table.c.published_at.is_not(None), table.c.published_at < cutoff
    )


def pending_count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sql_select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        ).scalar_one()


class OutboxRelay(DependencyProvider):
    def __init__(self, table: Table) -> None:
        self.table = table
        self.engine: Engine | None = None
        self.publish: Any = None
        self.running = False
        self.retention_days = 7.0
        self.next_prune = 0.0

    def setup(self) -> None:
        self.engine = make_engine(self.container.config, pool_size=2)
        config = self.container.config
        self.retention_days = retention_days(config, "OUTBOX_DAYS")
        # Declare the service's event exchange like nameko's EventDispatcher does: in a fresh
        # vhost nothing has declared it until a consumer starts, and every publish would fail.
        exchange = get_event_exchange(self.container.service_name, config)
        self.publish = event_dispatcher(config, declare=[exchange])

    def start(self) -> None:
        self.running = True
        self.container.spawn_managed_thread(self.run, identifier="outbox_relay")

    def stop(self) -> None:
        self.running = False
        if self.engine is not None:
            self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> None:
        return None

    def run(self) -> None:
        assert self.engine is not None
        service_name = self.container.service_name
        while self.running:
            try:
                self._listen_and_relay(service_name)
            except Exception:
                log.warning("outbox relay for %s failed; retrying", service_name, exc_info=True)
                OUTBOX_PENDING.labels(service_name).set(self._safe_pending())
                eventlet.sleep(RETRY_SECONDS)

    def _listen_and_relay(self, service_name: str) -> None:
        assert self.engine is not None
        raw = self.engine.raw_connection()
        try:
            listener = raw.driver_connection
            listener.autocommit = True  # LISTEN must not sit inside an open transaction
            listener.cursor().execute(f"LISTEN {notify_channel(self.table)}")
            while self.running:
                relay_pending(self.engine, self.table, self.publish, service_name)
                self._prune_when_due(service_name)
                readable, _, _ = select.select([listener], [], [], SWEEP_SECONDS)
                if readable:
                    listener.poll()
                    listener.notifies.clear()
        finally:
            raw.invalidate()  # never hand an autocommit LISTEN connection back to the pool

    def _prune_when_due(self, service_name: str) -> None:
        if time.monotonic() < self.next_prune:
            return
        assert self.engine is not None
        self.next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
        try:
            removed = prune_published(self.engine, self.table, self.retention_days)
        except Exception:
            log.warning(
                "pruning %s failed; next try in an hour", self.table.fullname, exc_info=True
            )
            return
        PRUNED_ROWS.labels(service_name, self.table.fullname).inc(removed)
        if removed:
            log.info("pruned %d relayed rows of %s", removed, self.table.fullname)

    def _safe_pending(self) -> int:
        try:
            assert self.engine is not None
            return pending_count(self.engine, self.table)
        except Exception:
            return -1
