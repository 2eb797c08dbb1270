"""Application and deliverable bodies, views and list queries."""

import datetime as dt
import urllib.parse
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from kernel.schemas import Cursor, Money, QueryModel, StrictModel
from kernel.timestamps import Timestamp
from kernel.vocabulary import Deliverable, Platform

Status = Literal["submitted", "shortlisted", "accepted", "rejected", "withdrawn"]
DeliverableStatus = Literal["submitted", "approved", "changes_requested"]
DeliverableType = Literal["post", "story", "reel", "video", "stream"]
MAX_URL_CHARS = 2048
MAX_CAPTION_CHARS = 2200
MAX_NOTE_CHARS = 2000


def _web_url(value: str) -> str:
    """An absolute http(s) URL with a host: what a published post's link looks like."""
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError("must be a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    return value


WebUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(_web_url)]


class DeliverableProgress(StrictModel):
    """How far an accepted application (or a campaign's accepted applications) got with the
    deliverables it owes."""

    owed: int = Field(
        description="pieces owed: the application's deliverable_plan, or else "
        "the campaign's deliverables (sum of quantities)"
    )
    submitted: int = Field(description="deliverables sent in, whatever their review state")
    awaiting_review: int
    changes_requested: int
    approved: int


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
    deliverables_progress: DeliverableProgress | None = None
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


class DeliverableSubmission(StrictModel):
    """A creator submits one piece of content its accepted application owes."""

    type: DeliverableType
    platform: Platform
    url: WebUrl
    caption: str | None = Field(default=None, max_length=MAX_CAPTION_CHARS)
    posted_at: Timestamp | None = None


class DeliverableResubmission(StrictModel):
    """A new revision after the brand asked for changes (type and platform stay)."""

    url: WebUrl
    caption: str | None = Field(default=None, max_length=MAX_CAPTION_CHARS)
    posted_at: Timestamp | None = None


class ChangeRequest(StrictModel):
    """What the brand wants changed."""

    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class DeliverableRevision(StrictModel):
    """One submission of a deliverable and the review it got (if any yet)."""

    revision: int
    url: str
    caption: str | None
    posted_at: dt.datetime | None
    status: DeliverableStatus
    review_note: str | None
    submitted_at: dt.datetime
    reviewed_at: dt.datetime | None


class ContentDeliverable(StrictModel):
    """A deliverable in its current revision."""

    id: uuid.UUID
    application_id: uuid.UUID
    campaign_id: uuid.UUID
    brand_id: uuid.UUID
    creator_id: uuid.UUID
    type: DeliverableType
    platform: str
    url: str
    caption: str | None
    posted_at: dt.datetime | None
    status: DeliverableStatus
    revision: int = Field(description="submissions so far (1 = the first)")
    review_note: str | None = Field(description="the brand's last change request, if any")
    submitted_at: dt.datetime
    reviewed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ContentDeliverableDetail(ContentDeliverable):
    """A deliverable with every revision, oldest first."""

    revisions: list[DeliverableRevision]


class ContentDeliverablePage(StrictModel):
    """A page of deliverables."""

    items: list[ContentDeliverable]
    next_cursor: str | None


class DeliverableQuery(QueryModel):
    status: DeliverableStatus | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None


class CampaignDeliverableProgress(DeliverableProgress):
    """A campaign's deliverables over its accepted applications."""

    accepted_applications: int
