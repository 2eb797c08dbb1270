"""Campaign request bodies, views and list query."""

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from kernel.schemas import Cursor, Money, QueryModel, StrictModel
from kernel.timestamps import Timestamp
from kernel.vocabulary import Country, Deliverable, Niche, Platform

Status = Literal["draft", "published", "paused", "closed"]
Compensation = Literal["fixed", "per_deliverable", "gifting", "affiliate"]


Objective = Annotated[str, Field(min_length=1, max_length=500)]


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
