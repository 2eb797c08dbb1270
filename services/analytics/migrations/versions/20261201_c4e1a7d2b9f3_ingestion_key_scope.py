"""ingestion keys scoped to one brand (optionally some of its campaigns)

Keys made before were either limited to a brand or valid for every campaign; the unscoped ones
are revoked here (their owners create scoped keys), and a check keeps every live key scoped.

Revision ID: c4e1a7d2b9f3
Revises: eba945b1ab68
Create Date: 2026-12-01 13:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4e1a7d2b9f3"
down_revision: str | Sequence[str] | None = "eba945b1ab68"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ingestion_keys",
        sa.Column("campaign_ids", postgresql.ARRAY(sa.Uuid()), nullable=True),
        schema="analytics",
    )
    op.execute(
        "UPDATE analytics.ingestion_keys SET revoked_at = now() "
        "WHERE brand_id IS NULL AND revoked_at IS NULL"
    )
    op.create_check_constraint(
        "ck_ingestion_keys_scoped",
        "ingestion_keys",
        "brand_id IS NOT NULL OR revoked_at IS NOT NULL",
        schema="analytics",
    )
    op.create_index(
        "ix_ingestion_keys_brand_created",
        "ingestion_keys",
        ["brand_id", "created_at", "id"],
        schema="analytics",
    )


def downgrade() -> None:
    op.drop_index("ix_ingestion_keys_brand_created", "ingestion_keys", schema="analytics")
    op.drop_constraint("ck_ingestion_keys_scoped", "ingestion_keys", schema="analytics")
    op.drop_column("ingestion_keys", "campaign_ids", schema="analytics")
