"""tracking links and link conversions

Revision ID: 87fef87c0e3c
Revises: c6c9faba5985
Create Date: 2026-12-01 13:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dependencies.migration_ddl import stamped

revision: str = "87fef87c0e3c"
down_revision: str | Sequence[str] | None = "c6c9faba5985"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("destination_url", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        stamped("created_at"),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(code) BETWEEN 8 AND 32", name="ck_tracking_links_code"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        schema="analytics",
    )
    op.create_index(
        "ix_tracking_links_application",
        "tracking_links",
        ["application_id", "created_at", "id"],
        unique=False,
        schema="analytics",
    )
    op.create_table(
        "link_conversions",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("click_id", sa.Text(), nullable=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value >= 0", name="ck_link_conversions_value"),
        sa.PrimaryKeyConstraint("brand_id", "order_id"),
        sa.UniqueConstraint("event_id"),
        schema="analytics",
    )


def downgrade() -> None:
    op.drop_table("link_conversions", schema="analytics")
    op.drop_index("ix_tracking_links_application", table_name="tracking_links", schema="analytics")
    op.drop_table("tracking_links", schema="analytics")
