"""users schema: brand and creator profiles (one row per account), processed events, outbox."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    Float,
    Index,
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
    metadata = MetaData(schema="users")


class Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BrandProfileRow(Timestamps, Base):
    __tablename__ = "brand_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str | None] = mapped_column(Text)
    company_name: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    logo_url: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)


class CreatorProfileRow(Timestamps, Base):
    __tablename__ = "creator_profiles"
    __table_args__ = (
        Index("ix_creator_profiles_niches", "niches", postgresql_using="gin"),
        Index("ix_creator_profiles_platform_names", "platform_names", postgresql_using="gin"),
        Index("ix_creator_profiles_languages", "languages", postgresql_using="gin"),
        Index("ix_creator_profiles_search", "search_document", postgresql_using="gin"),
        Index("ix_creator_profiles_followers", "followers_total", "user_id"),
        Index("ix_creator_profiles_engagement", "engagement_rate", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    portfolio_url: Mapped[str | None] = mapped_column(Text)
    bio: Mapped[str | None] = mapped_column(Text)
    niches: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    platforms: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    country: Mapped[str | None] = mapped_column(Text)
    languages: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    rate_card: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    # Derived from `platforms` on every write, so discovery filters and sorts use plain indexes.
    platform_names: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    handles: Mapped[str] = mapped_column(Text, server_default="")
    followers_total: Mapped[int] = mapped_column(BigInteger, server_default="0")
    engagement_rate: Mapped[float] = mapped_column(Float, server_default="0")
    search_document: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('simple', coalesce(display_name, '') || ' ' || coalesce(bio, '') "
            "|| ' ' || handles)",
            persisted=True,
        ),
    )


processed_events = processed_events_table(Base.metadata)
outbox = outbox_table(Base.metadata)
