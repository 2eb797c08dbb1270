"""Tracking links and conversion postbacks: request bodies, query parameters and views."""

import datetime as dt
import uuid
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from kernel.schemas import QueryModel, StrictModel
from kernel.vocabulary import Platform, WebUrl

OrderId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


def _no_credentials(value: str) -> str:
    if urlsplit(value).username is not None:
        raise ValueError("must not carry a user name or password")
    return value


Destination = Annotated[WebUrl, AfterValidator(_no_credentials)]


class TrackingLinkCreate(StrictModel):
    """Where the link sends visitors (an absolute http or https URL, at most 2,083 characters)
    and the platform it is posted on (clicks are counted for it; default other)."""

    destination_url: Destination
    platform: Platform = "other"


class TrackingLink(StrictModel):
    """`url` is the public link to share (GET answers 302 to destination_url)."""

    id: uuid.UUID
    code: str
    url: str
    application_id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: Platform
    destination_url: str
    status: Literal["active", "disabled"]
    created_at: dt.datetime
    disabled_at: dt.datetime | None


class TrackingLinkList(StrictModel):
    items: list[TrackingLink]
    next_cursor: str | None


class TrackingLinkQuery(QueryModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=500)


class ConversionCreate(StrictModel):
    """A shop's order attributed to a tracking link: name the link by its `code`, or pass the
    `click_id` the redirect added to the destination URL (exactly one of the two). `value` is the
    order's revenue in the campaign's currency, integer minor units (like an event's value).
    The same order_id sent again counts once and gets the same answer."""

    code: str | None = Field(default=None, min_length=8, max_length=32, pattern=r"^[A-Za-z0-9]+$")
    click_id: str | None = Field(default=None, max_length=80)
    value: int = Field(ge=0, le=10**12)
    order_id: OrderId

    @model_validator(mode="after")
    def _one_reference(self) -> Self:
        if (self.code is None) == (self.click_id is None):
            raise ValueError("give exactly one of code or click_id")
        return self


class ConversionRecorded(StrictModel):
    """The conversion is durably queued as an analytics event (in the figures within about a
    second)."""

    event_id: uuid.UUID
    order_id: str
    link_id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    value: int
    occurred_at: dt.datetime
