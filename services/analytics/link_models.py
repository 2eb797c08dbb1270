"""analytics' PostgreSQL tables for tracking links: the links themselves (a short public code
per application and destination) and the conversions reported for them (one row per shop
order, so a postback sent twice counts once). Clicks and conversions are ClickHouse events."""

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Text, Uuid
from sqlalchemy import func as sql_func
from sqlalchemy.orm import Mapped, mapped_column

from services.analytics.models import Base


class TrackingLink(Base):
    """A link a brand or the accepted creator made for an application. The campaign, brand,
    creator and platform are copied in so the redirect needs one row, no other service."""

    __tablename__ = "tracking_links"
    __table_args__ = (
        Index("ix_tracking_links_application", "application_id", "created_at", "id"),
        CheckConstraint("length(code) BETWEEN 8 AND 32", name="ck_tracking_links_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(Text, unique=True)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    creator_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    platform: Mapped[str] = mapped_column(Text)
    destination_url: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=sql_func.now()
    )
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LinkConversion(Base):
    """A shop order attributed to a link, keyed by (brand, order id): the same order reported
    twice is one conversion and gets the same answer. `event_id` is the conversion event's id."""

    __tablename__ = "link_conversions"
    __table_args__ = (CheckConstraint("value >= 0", name="ck_link_conversions_value"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    link_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    click_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    value: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
