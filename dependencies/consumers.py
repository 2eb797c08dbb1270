"""Idempotent event consumers. Delivery from the outbox is at least once, so every consumer keeps
a `processed_events` table in its own schema and records the event id in the same transaction as
the effect:

    if claim_event(session, processed_events, payload):
        apply_the_effect(session, payload)

A redelivered event finds its id already claimed and changes nothing. If the effect fails the
transaction rolls back, the claim with it, and the redelivery applies it.
"""

from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session


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
