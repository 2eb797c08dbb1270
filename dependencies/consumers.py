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
from typing import Any

import prometheus_client
from nameko.timer import timer
from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, delete, func, select
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


def prune_processed(session: Session, table: Table, days: float) -> int:
    """Delete claims older than `days`, in batches (each its own short statement); the caller's
    transaction commits them."""
    cutoff = func.now() - dt.timedelta(days=days)
    removed = 0
    while True:
        oldest = (
            select(table.c.event_id)
            .where(table.c.processed_at < cutoff)
            .limit(PRUNE_BATCH)
            .scalar_subquery()
        )
        count = session.execute(delete(table).where(table.c.event_id.in_(oldest))).rowcount
        removed += count
        if count < PRUNE_BATCH:
            return removed


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
