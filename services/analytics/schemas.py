"""Analytics request bodies, query parameters and views."""

import datetime as dt
import uuid
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from kernel.schemas import Cursor, QueryModel, StrictModel
from kernel.timestamps import TIMESTAMP_SCHEMA, Timestamp, rfc3339_string, to_utc
from kernel.vocabulary import Country, Platform

MAX_BATCH = 1000

EventType = Literal[
    "impression", "click", "view", "like", "comment", "share", "save", "follow", "conversion"
]
Device = Literal["mobile", "desktop", "tablet", "tv", "other"]
Id = Annotated[uuid.UUID, Field(strict=False)]
Metric = Literal[
    "impressions",
    "clicks",
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "follows",
    "engagements",
    "conversions",
    "revenue",
]


QueryTimestamp = Annotated[
    AwareDatetime,
    BeforeValidator(rfc3339_string),
    AfterValidator(to_utc),
    Field(json_schema_extra=TIMESTAMP_SCHEMA),
]


# Per conversion, in minor units (100,000,000.00 in a two-decimal currency): sums over any
# campaign's events stay far inside ClickHouse's Int64/UInt64.
MAX_EVENT_VALUE = 10**10


class AnalyticsEvent(StrictModel):
    """One tracked event. `value` is revenue in the campaign's currency (integer minor units,
    0 to 10,000,000,000) and only conversions carry one (others: 0 or absent). ts may be up to 90
    days old and at most 5 minutes ahead, and not before the creator was accepted on the campaign
    (5 minutes of clock skew allowed)."""

    event_id: Id
    campaign_id: Id
    creator_id: Id
    event_type: EventType
    ts: Timestamp
    platform: Platform
    value: int = Field(
        default=0,
        ge=0,
        le=MAX_EVENT_VALUE,
        description="conversions: revenue in minor units; every other event type: 0",
    )
    country: Country | None = None
    device: Device | None = None


class EventBatch(StrictModel):
    """Up to 1,000 events. Any invalid event rejects the whole batch (nothing is stored)."""

    events: list[AnalyticsEvent] = Field(min_length=1, max_length=MAX_BATCH)


class IngestResult(StrictModel):
    """The batch is durably queued: every event will reach the figures (duplicates once)."""

    accepted: int
    event_ids: list[uuid.UUID]


# The zones this machine's tz database knows: the document lists them, figures.zone() accepts them.
TIME_ZONES = tuple(sorted(available_timezones()))


class AnalyticsQuery(QueryModel):
    """Range [from, to) as RFC 3339 date-times (default: the 30 days up to the next whole hour),
    time zone for day buckets, bucket size, and the metric a series shows or a breakdown sorts
    by."""

    from_: QueryTimestamp | None = Field(default=None, alias="from")
    to: QueryTimestamp | None = None
    tz: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone, e.g. Europe/Berlin",
        json_schema_extra={"enum": list(TIME_ZONES)},
    )
    interval: Literal["hour", "day"] = "day"
    metric: Metric = "impressions"


class Funnel(StrictModel):
    """Marketplace figures over the campaign's whole life (not limited by from/to)."""

    applications: int
    accepted: int
    acceptance_rate: float | None = Field(description="accepted / applications")
    conversations: int
    replied_conversations: int
    median_first_reply_seconds: float | None = Field(
        description="per conversation: first message to the other side's first answer"
    )
    deliverables_submitted: int = Field(description="deliverables sent in (each counted once)")
    deliverables_approved: int
    deliverable_reviews: int = Field(description="approvals and change requests")
    median_review_seconds: float | None = Field(
        description="per review: the revision's submission to the brand's decision"
    )


class Figures(StrictModel):
    impressions: int
    clicks: int
    views: int
    engagements: int = Field(description="likes + comments + shares + saves")
    conversions: int
    revenue: int = Field(description="sum of conversion values, minor units")
    ctr: float | None = Field(description="clicks / impressions")
    engagement_rate: float | None = Field(description="engagements / impressions")


class Summary(Figures):
    campaign_id: uuid.UUID
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    currency: str
    likes: int
    comments: int
    shares: int
    saves: int
    follows: int
    spend: int = Field(description="sum of the accepted creators' agreed rates, minor units")
    cpm: float | None = Field(description="spend per 1,000 impressions, minor units")
    cpc: float | None = Field(description="spend / clicks, minor units")
    cpe: float | None = Field(description="spend / engagements, minor units")
    roi: float | None = Field(description="(revenue - spend) / spend")
    funnel: Funnel


class Point(StrictModel):
    start: dt.datetime = Field(description="bucket start, in the requested time zone")
    value: int


class TimeSeries(StrictModel):
    campaign_id: uuid.UUID
    metric: Metric
    interval: Literal["hour", "day"]
    tz: str
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    points: list[Point]


class CreatorFigures(Figures):
    creator_id: uuid.UUID
    spend: int
    accepted: bool = Field(description="accepted on the campaign (else: events only)")


class PlatformFigures(Figures):
    platform: str


class CreatorBreakdown(StrictModel):
    campaign_id: uuid.UUID
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    sort: Metric
    items: list[CreatorFigures]


class PlatformBreakdown(StrictModel):
    campaign_id: uuid.UUID
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    sort: Metric
    items: list[PlatformFigures]


MAX_KEY_CAMPAIGNS = 100


class IngestionKeyCreate(StrictModel):
    """A service account's key: it sends events for one brand's campaigns only (all of them, or
    the `campaign_ids` listed). A brand creates keys for itself (brand_id omitted or its own id);
    an admin names the brand."""

    name: str = Field(min_length=1, max_length=200)
    brand_id: Id | None = Field(
        default=None, description="the brand the key sends for; required from admins"
    )
    campaign_ids: list[Id] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_KEY_CAMPAIGNS,
        description="limit the key to these campaigns of the brand (default: all of them)",
    )


class IngestionKeyView(StrictModel):
    id: uuid.UUID
    name: str
    brand_id: uuid.UUID | None = Field(description="null only on revoked keys from before scoping")
    campaign_ids: list[uuid.UUID] | None = Field(description="null: all the brand's campaigns")
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class IngestionKeyCreated(IngestionKeyView):
    key: str = Field(description="send as X-Ingestion-Key; shown only once")


class IngestionKeyList(StrictModel):
    items: list[IngestionKeyView]
    next_cursor: str | None


class IngestionKeyQuery(QueryModel):
    """A brand lists its own keys, an admin every key; newest first."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None
