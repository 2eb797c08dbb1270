"""DDL that several services' migrations share: the transactional outbox (dependencies/outbox.py)
and the processed-events table (dependencies/consumers.py) live in every publishing or consuming
service's schema, and `created_at`-style columns stamped by the database are everywhere.

A migration must build the same thing for ever, so what is here is frozen: changing the outbox
means a new function called by a new migration, never an edit of these.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def stamped(name: str) -> sa.Column:
    """A NOT NULL timestamptz column the database fills with now()."""
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def create_outbox(schema: str) -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        stamped("created_at"),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        f"ix_{schema}_outbox_pending",
        "outbox",
        ["created_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def drop_outbox(schema: str) -> None:
    op.drop_index(f"ix_{schema}_outbox_pending", table_name="outbox", schema=schema)
    op.drop_table("outbox", schema=schema)


def create_processed_events(schema: str) -> None:
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        stamped("processed_at"),
        sa.PrimaryKeyConstraint("event_id"),
        schema=schema,
    )


def drop_processed_events(schema: str) -> None:
    op.drop_table("processed_events", schema=schema)
