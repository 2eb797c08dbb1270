"""Application bodies, views and list query."""

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from services.campaigns.schemas import Deliverable
from services.common.schemas import Cursor, Money, QueryModel, StrictModel

Status = Literal["submitted", "shortlisted", "accepted", "rejected", "withdrawn"]


class ApplicationCreate(StrictModel):
    """A creator's application to a published campaign."""

    pitch: str = Field(min_length=1, max_length=5000)
    proposed_rate: Money
    deliverable_plan: list[Deliverable] = Field(default_factory=list, max_length=50)


class Application(StrictModel):
    """An application."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    brand_id: uuid.UUID
    creator_id: uuid.UUID
    status: Status
    pitch: str
    proposed_rate: Money
    deliverable_plan: list[Deliverable]
    created_at: dt.datetime
    updated_at: dt.datetime


class ApplicationPage(StrictModel):
    """A page of applications."""

    items: list[Application]
    next_cursor: str | None


class ApplicationQuery(QueryModel):
    status: Status | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None
