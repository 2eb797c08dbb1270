"""analytics' PostgreSQL schema: what it knows about campaigns (copied from campaigns and
applications events, used to authorise ingestion and queries and to compute spend), ingestion
keys, and the event ids already written to ClickHouse (de-duplication). The events themselves
live in ClickHouse (clickhouse_schema.py)."""

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, MetaData, Text, Uuid
from sqlalchemy import func as sql_func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(schema="analytics")


class CampaignCopy(Base):
    """Owner and currency of a campaign, versioned like the campaigns events that feed it."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


class AcceptedCreator(Base):
    """A creator accepted on a campaign at an agreed rate: may report events, counts as spend."""

    __tablename__ = "accepted_creators"
    __table_args__ = (CheckConstraint("rate_amount >= 0", name="ck_accepted_creators_rate"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    creator_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    rate_amount: Mapped[int] = mapped_column(BigInteger)
    rate_currency: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class IngestionKey(Base):
    """A service account's key for POST /analytics/events. Only a SHA-256 of the secret is kept.
    A key writes events for one brand's campaigns only (campaign_ids: some of them; NULL: all).
    brand_id is NULL only on keys made before keys were scoped, which that migration revoked."""

    __tablename__ = "ingestion_keys"
    __table_args__ = (
        CheckConstraint(
            "brand_id IS NOT NULL OR revoked_at IS NOT NULL", name="ck_ingestion_keys_scoped"
        ),
        Index("ix_ingestion_keys_brand_created", "brand_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text)
    secret_sha256: Mapped[str] = mapped_column(Text)
    brand_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    campaign_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid), nullable=True)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql_func.now()
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SeenEvent(Base):
    """Event ids already written to ClickHouse. Claimed in the same transaction that brackets
    the ClickHouse insert, so a duplicate never reaches the events table or its rollup."""

    __tablename__ = "seen_events"
    __table_args__ = (Index("ix_seen_events_seen_at", "seen_at"),)

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql_func.now()
    )
