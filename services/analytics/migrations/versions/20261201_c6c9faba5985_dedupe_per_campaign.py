"""de-duplicate analytics events per campaign: seen_events is keyed by (campaign_id, event_id)

One brand's event_id must never suppress another campaign's event. Claims made before this
revision do not know their campaign: they keep the nil UUID, and an event whose id matches one of
them is checked against ClickHouse for its own campaign instead (they are pruned after 91 days).

Revision ID: c6c9faba5985
Revises: c4e1a7d2b9f3 (ingestion_key_scope)
Create Date: 2026-12-01 13:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c6c9faba5985"
down_revision: str | Sequence[str] | None = "c4e1a7d2b9f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_CLAIM = "'00000000-0000-0000-0000-000000000000'::uuid"


def upgrade() -> None:
    op.add_column(
        "seen_events",
        sa.Column("campaign_id", sa.Uuid(), nullable=False, server_default=sa.text(LEGACY_CLAIM)),
        schema="analytics",
    )
    op.alter_column("seen_events", "campaign_id", server_default=None, schema="analytics")
    op.drop_constraint("seen_events_pkey", "seen_events", schema="analytics")
    op.create_primary_key(
        "seen_events_pkey", "seen_events", ["campaign_id", "event_id"], schema="analytics"
    )


def downgrade() -> None:
    # One claim per id survives (any campaign's): the older, global de-duplication.
    op.execute(
        "DELETE FROM analytics.seen_events a USING analytics.seen_events b "
        "WHERE a.event_id = b.event_id AND a.campaign_id > b.campaign_id"
    )
    op.drop_constraint("seen_events_pkey", "seen_events", schema="analytics")
    op.create_primary_key("seen_events_pkey", "seen_events", ["event_id"], schema="analytics")
    op.drop_column("seen_events", "campaign_id", schema="analytics")
