"""Timestamps in request bodies and queries: RFC 3339 strings with an offset, years 2000-2099,
normalised to UTC."""

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, GetPydanticSchema
from pydantic_core import core_schema

# The document states this pattern and the API accepts exactly what it matches (pydantic alone
# would also take a space for T, "+0100", no seconds or a decimal comma). It spells only real
# dates (Feb 29 in leap years), so a generator drawing from it makes valid timestamps: the range
# check is on the year as written, not on the UTC instant, so nothing else is refused.
_DAY = (
    r"(?:20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|20[0-9]{2}-(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|20[0-9]{2}-(?:0[13578]|1[02])-31"
    r"|20(?:[02468][048]|[13579][26])-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
TIMESTAMP_PATTERN = f"^{_DAY}[Tt]{_TIME}{_OFFSET}$"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
TIMESTAMP_SCHEMA = {
    "pattern": TIMESTAMP_PATTERN,
    "description": "RFC 3339 date-time with an offset (Z or ±hh:mm), years 2000 to 2099",
}


def rfc3339_string(value: object) -> object:
    # Lax pydantic would also take a number as a Unix time.
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time with an offset, years 2000 to 2099, "
            "e.g. 2026-11-01T00:00:00Z"
        )
    return value


def to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(rfc3339_string),
    AfterValidator(to_utc),
    Field(strict=False, json_schema_extra=TIMESTAMP_SCHEMA),
]


# The same check done by pydantic-core alone (no Python call per value), for bulk input: accepts
# exactly what Timestamp accepts, with pydantic's own error messages, and keeps the offset as
# written (not normalised to UTC; compare instants, or normalise with to_utc).
CoreTimestamp = Annotated[
    dt.datetime,
    GetPydanticSchema(
        lambda _source, _handler: core_schema.chain_schema(
            [
                core_schema.str_schema(pattern=TIMESTAMP_PATTERN),
                core_schema.datetime_schema(tz_constraint="aware", strict=False),
            ]
        )
    ),
]
