"""campaigns schema: campaigns, processed events, outbox."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    Index,
    Integer,
    MetaData,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dependencies.consumers import processed_events_table
from dependencies.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = MetaData(schema="campaigns")


class CampaignRow(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'published', 'paused', 'closed')", name="ck_campaigns_status"
        ),
        CheckConstraint(
            "compensation IN ('fixed', 'per_deliverable', 'gifting', 'affiliate')",
            name="ck_campaigns_compensation",
        ),
        CheckConstraint("budget_amount >= 0", name="ck_campaigns_budget_amount"),
        CheckConstraint("budget_currency ~ '^[A-Z]{3}$'", name="ck_campaigns_budget_currency"),
        CheckConstraint("max_creators >= 1", name="ck_campaigns_max_creators"),
        CheckConstraint(
            "application_deadline <= starts_at AND starts_at < ends_at", name="ck_campaigns_dates"
        ),
        Index("ix_campaigns_brand", "brand_id", "created_at"),
        Index("ix_campaigns_status_created", "status", "created_at", "id"),
        Index("ix_campaigns_niches", "niches", postgresql_using="gin"),
        Index("ix_campaigns_platforms", "platforms", postgresql_using="gin"),
        Index("ix_campaigns_search", "search_document", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(Text, server_default="draft")
    title: Mapped[str] = mapped_column(Text)
    brief: Mapped[str] = mapped_column(Text)
    objectives: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    niches: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    platforms: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    deliverables: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    budget_amount: Mapped[int] = mapped_column(BigInteger)
    budget_currency: Mapped[str] = mapped_column(Text)
    compensation: Mapped[str] = mapped_column(Text)
    application_deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    max_creators: Mapped[int] = mapped_column(Integer)
    min_followers: Mapped[int] = mapped_column(BigInteger, server_default="0")
    countries: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    search_document: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector('simple', title || ' ' || brief)", persisted=True),
    )


processed_events = processed_events_table(Base.metadata)
outbox = outbox_table(Base.metadata)
