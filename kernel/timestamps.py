"""Timestamps in request bodies: RFC 3339 strings with an offset, within 2000-2100, as UTC."""

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _from_string(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


def plausible_utc(value: dt.datetime) -> dt.datetime:
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
    AfterValidator(plausible_utc),
    Field(strict=False, json_schema_extra=TIMESTAMP_SCHEMA),
]
