"""applications schema: applications, their deliverables (and each deliverable's revisions), the
local copy of each campaign's slots, processed events, outbox."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dependencies.consumers import processed_events_table
from dependencies.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = MetaData(schema="applications")


class ApplicationRow(Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("campaign_id", "creator_id", name="uq_applications_campaign_creator"),
        CheckConstraint(
            "status IN ('submitted', 'shortlisted', 'accepted', 'rejected', 'withdrawn')",
            name="ck_applications_status",
        ),
        CheckConstraint("proposed_rate_amount >= 0", name="ck_applications_rate_amount"),
        CheckConstraint("proposed_rate_currency ~ '^[A-Z]{3}$'", name="ck_applications_currency"),
        Index("ix_applications_campaign", "campaign_id", "status", "created_at"),
        Index("ix_applications_creator", "creator_id", "created_at"),
        Index("ix_applications_brand", "brand_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    creator_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(Text, server_default="submitted")
    pitch: Mapped[str] = mapped_column(Text)
    proposed_rate_amount: Mapped[int] = mapped_column(BigInteger)
    proposed_rate_currency: Mapped[str] = mapped_column(Text)
    deliverable_plan: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class CampaignSlots(Base):
    """Applications' own copy of what it needs from a campaign, fed by campaigns events (and by
    an RPC read at apply time), versioned so an older event never overwrites a newer state.
    The row is the lock for accepting: accepted_count never exceeds max_creators."""

    __tablename__ = "campaign_slots"
    __table_args__ = (
        CheckConstraint("accepted_count >= 0", name="ck_campaign_slots_accepted_nonnegative"),
        CheckConstraint(
            "accepted_count <= max_creators", name="ck_campaign_slots_accepted_within_max"
        ),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(Text)
    max_creators: Mapped[int] = mapped_column(Integer)
    accepted_count: Mapped[int] = mapped_column(Integer, server_default="0")
    application_deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    min_followers: Mapped[int] = mapped_column(BigInteger, server_default="0")
    countries: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    platforms: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    deliverables: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    version: Mapped[int] = mapped_column(Integer)


DELIVERABLE_STATUSES = "status IN ('submitted', 'approved', 'changes_requested')"


class DeliverableRow(Base):
    """One piece of content an accepted creator owes, in its current revision. `revision` counts
    submissions (1 = first) and is the row's version: every transition locks the row and bumps
    or checks it, so concurrent reviews and resubmissions serialise."""

    __tablename__ = "deliverables"
    __table_args__ = (
        CheckConstraint(DELIVERABLE_STATUSES, name="ck_deliverables_status"),
        CheckConstraint("revision >= 1", name="ck_deliverables_revision"),
        Index("ix_deliverables_application", "application_id", "created_at", "id"),
        Index("ix_deliverables_campaign", "campaign_id", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("applications.applications.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    creator_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    posted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class DeliverableRevisionRow(Base):
    """Every submission of a deliverable as it was sent, with the review it got."""

    __tablename__ = "deliverable_revisions"
    __table_args__ = (
        CheckConstraint(DELIVERABLE_STATUSES, name="ck_deliverable_revisions_status"),
    )

    deliverable_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("applications.deliverables.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    posted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(Text)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


processed_events = processed_events_table(Base.metadata)
outbox = outbox_table(Base.metadata)
