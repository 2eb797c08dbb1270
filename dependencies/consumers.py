"""Idempotent event consumers. Delivery from the outbox is at least once, so every consumer keeps
a `processed_events` table in its own schema and records the event id in the same transaction as
the effect:

    if claim_event(session, processed_events, payload):
        apply_the_effect(session, payload)

A redelivered event finds its id already claimed and changes nothing. If the effect fails the
transaction rolls back, the claim with it, and the redelivery applies it.

Claims are kept `RETENTION.PROCESSED_EVENTS_DAYS` (default 30) and then pruned by the owning
service's hourly timer (the `ProcessedEventsRetention` mixin): a redelivery of an event older
than that would be applied again (docs/decisions.md, "Retention").
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import prometheus_client
from nameko.timer import timer
from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Delete,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

PRUNE_BATCH = 5000
PRUNE_INTERVAL_SECONDS = 3600
DEFAULT_RETENTION_DAYS = {"OUTBOX_DAYS": 7, "PROCESSED_EVENTS_DAYS": 30}

PRUNED_ROWS = prometheus_client.Counter(
    "retention_pruned_rows_total",
    "Rows deleted by retention: relayed outbox rows, processed-event ids.",
    ["service", "table"],
)


def retention_days(config: dict[str, Any], key: str) -> float:
    """`RETENTION.<key>` of the config (days; fractions allowed), at least one hour."""
    days = float((config.get("RETENTION") or {}).get(key) or DEFAULT_RETENTION_DAYS[key])
    if days < 1 / 24:
        raise ValueError(f"RETENTION.{key} must be at least one hour")
    return days


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def claim_event(session: Session, table: Table, event_type: str, payload: dict[str, Any]) -> bool:
    """True the first time this event id is seen (go ahead and apply it), False afterwards."""
    claimed = session.execute(
        insert(table)
        .values(event_id=payload["event_id"], event_type=event_type)
        .on_conflict_do_nothing(index_elements=[table.c.event_id])
        .returning(table.c.event_id)
    ).first()
    return claimed is not None


def delete_in_batches(
    run: Callable[[Delete], int], table: Table, key: Column[Any], *where: ColumnElement[bool]
) -> int:
    """Delete the rows matching `where`, PRUNE_BATCH at a time so that no statement holds many
    locks for long; `run` executes one statement and answers its rowcount."""
    removed = 0
    while True:
        batch = select(key).where(*where).limit(PRUNE_BATCH).scalar_subquery()
        count = run(delete(table).where(key.in_(batch)))
        removed += count
        if count < PRUNE_BATCH:
            return removed


def prune_processed(session: Session, table: Table, days: float) -> int:
    """Delete claims older than `days`, in batches; the caller's transaction commits them."""
    cutoff = func.now() - dt.timedelta(days=days)
    return delete_in_batches(
        lambda statement: session.execute(statement).rowcount,
        table,
        table.c.event_id,
        table.c.processed_at < cutoff,
    )


class ProcessedEventsRetention:
    """Mixin for a service that claims events: an hourly timer (also at start) deleting claims
    older than `RETENTION.PROCESSED_EVENTS_DAYS`. The service sets `processed_events` and has
    `config`, `db` and `metrics` dependencies."""

    name: str
    processed_events: Table
    config: Any
    db: Any
    metrics: Any

    @timer(interval=PRUNE_INTERVAL_SECONDS, eager=True)
    def prune_processed_events(self) -> None:
        days = retention_days(self.config, "PROCESSED_EVENTS_DAYS")
        removed = prune_processed(self.db, self.processed_events, days)
        self.metrics.count_on_success(
            PRUNED_ROWS.labels(self.name, self.processed_events.fullname), removed
        )
