"""Campaign request bodies, views and list query."""

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from services.common.schemas import Cursor, Money, QueryModel, StrictModel
from services.users.schemas import Country, Niche, Platform

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _from_string(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


def _plausible_utc(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 2000 and 2100")
    return value.astimezone(dt.UTC)


# JSON has no datetime type: an RFC 3339 string with a UTC offset (naive times are rejected),
# normalised to UTC.
# Stated in the OpenAPI document as a pattern: years 2000-2099, an offset required.
TIMESTAMP_PATTERN = (
    r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
TIMESTAMP_SCHEMA = {
    "pattern": TIMESTAMP_PATTERN,
    "description": "RFC 3339 date-time with an offset, from 2000-01-01 to 2100-01-01 (UTC)",
}
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_from_string),
    AfterValidator(_plausible_utc),
    Field(strict=False, json_schema_extra=TIMESTAMP_SCHEMA),
]
Status = Literal["draft", "published", "paused", "closed"]
Compensation = Literal["fixed", "per_deliverable", "gifting", "affiliate"]


Objective = Annotated[str, Field(min_length=1, max_length=500)]


class Deliverable(StrictModel):
    type: Literal["post", "story", "reel", "video", "stream"]
    platform: Platform
    quantity: int = Field(ge=1, le=1000)


class Requirements(StrictModel):
    min_followers: int = Field(default=0, ge=0, le=10**10)
    countries: list[Country] = Field(default_factory=list, max_length=50)


class CampaignTerms(StrictModel):
    title: str = Field(min_length=1, max_length=200)
    brief: str = Field(min_length=1, max_length=20000)
    objectives: list[Objective] = Field(default_factory=list, max_length=20)
    niches: list[Niche] = Field(default_factory=list, max_length=10)
    platforms: list[Platform] = Field(min_length=1, max_length=6)
    deliverables: list[Deliverable] = Field(min_length=1, max_length=50)
    budget: Money
    compensation: Compensation
    application_deadline: Timestamp
    starts_at: Timestamp
    ends_at: Timestamp
    max_creators: int = Field(ge=1, le=10000)
    requirements: Requirements = Field(default_factory=Requirements)

    @model_validator(mode="after")
    def _dates_in_order(self) -> "CampaignTerms":
        if not self.application_deadline <= self.starts_at < self.ends_at:
            raise ValueError("dates must satisfy application_deadline <= starts_at < ends_at")
        return self


class CampaignCreate(CampaignTerms):
    """A new campaign; it starts as a draft."""


class CampaignPatch(StrictModel):
    """Fields to change. On a draft anything may change. Once published (or paused) only title,
    brief, objectives, a later application_deadline and a larger max_creators: the terms
    applicants applied to (budget, compensation, deliverables, platforms, niches, dates,
    requirements) are frozen. A closed campaign cannot change. Leave a field out to keep it;
    null is refused (422): no campaign term can be empty."""

    title: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    brief: Annotated[str, Field(min_length=1, max_length=20000)] | SkipJsonSchema[None] = None
    objectives: Annotated[list[Objective], Field(max_length=20)] | SkipJsonSchema[None] = None
    niches: Annotated[list[Niche], Field(max_length=10)] | SkipJsonSchema[None] = None
    platforms: (
        Annotated[list[Platform], Field(min_length=1, max_length=6)] | SkipJsonSchema[None]
    ) = None
    deliverables: (
        Annotated[list[Deliverable], Field(min_length=1, max_length=50)] | SkipJsonSchema[None]
    ) = None
    budget: Money | SkipJsonSchema[None] = None
    compensation: Compensation | SkipJsonSchema[None] = None
    application_deadline: Timestamp | SkipJsonSchema[None] = None
    starts_at: Timestamp | SkipJsonSchema[None] = None
    ends_at: Timestamp | SkipJsonSchema[None] = None
    max_creators: Annotated[int, Field(ge=1, le=10000)] | SkipJsonSchema[None] = None
    requirements: Requirements | SkipJsonSchema[None] = None


EDITABLE_WHEN_LIVE = frozenset({"title", "brief", "objectives"})


class Campaign(StrictModel):
    """A campaign."""

    id: uuid.UUID
    brand_id: uuid.UUID
    status: Status
    title: str
    brief: str
    objectives: list[str]
    niches: list[str]
    platforms: list[str]
    deliverables: list[Deliverable]
    budget: Money
    compensation: Compensation
    application_deadline: dt.datetime
    starts_at: dt.datetime
    ends_at: dt.datetime
    max_creators: int
    requirements: Requirements
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None


class CampaignPage(StrictModel):
    """A page of campaigns."""

    items: list[Campaign]
    next_cursor: str | None


class CampaignQuery(QueryModel):
    status: Status | None = None
    niche: Niche | None = None
    platform: Platform | None = None
    min_budget: int | None = Field(default=None, ge=0)
    max_budget: int | None = Field(default=None, ge=0)
    compensation: Compensation | None = None
    country: Country | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200)
    mine: bool = False
    sort: Literal["newest", "deadline", "budget", "-budget"] = "newest"
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None
