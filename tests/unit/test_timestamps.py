"""kernel.timestamps: the API accepts exactly the strings the documented pattern matches."""

import datetime as dt
import json
import re

import pytest
from pydantic import TypeAdapter, ValidationError

from kernel.timestamps import TIMESTAMP_PATTERN, CoreTimestamp, Timestamp, to_utc
from services.analytics.schemas import QueryTimestamp

PATTERN = re.compile(TIMESTAMP_PATTERN)
ADAPTERS = [TypeAdapter(Timestamp), TypeAdapter(QueryTimestamp)]


def test_the_pattern_spells_every_real_day_of_the_century_and_nothing_else():
    for year in range(2000, 2100):
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z"
                try:
                    real = dt.date(year, month, day) is not None
                except ValueError:
                    real = False
                assert bool(PATTERN.fullmatch(text)) == real, text


ACCEPTED = [
    "2026-11-01T00:00:00Z",
    "2026-11-01t00:00:00z",
    "2024-02-29T23:59:59.123456789+23:59",
    "2000-01-01T00:30:00+01:00",  # 1999 in UTC: the year as written counts
    "2099-12-31T23:00:00-05:00",
]


@pytest.mark.parametrize("text", ACCEPTED)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_what_the_pattern_matches_is_accepted_and_normalised_to_utc(adapter, text):
    assert PATTERN.fullmatch(text)
    value = adapter.validate_python(text)
    assert value.utcoffset() == dt.timedelta(0)


REFUSED = [
    "2026-11-01 00:00:00Z",  # pydantic alone takes these five
    "2026-11-01T00:00:00+0100",
    "2026-11-01T00:00Z",
    "2026-11-01T00:00:00,5Z",
    1_900_000_000,
    "2026-11-01T00:00:00",  # naive
    "2026-11-01T24:00:00Z",
    "2026-11-01T00:00:00+24:00",
    "2023-02-29T00:00:00Z",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-11-01T00:00:00Z\n",
]


@pytest.mark.parametrize("value", REFUSED)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_anything_else_is_refused(adapter, value):
    assert not (isinstance(value, str) and PATTERN.fullmatch(value))
    with pytest.raises(ValidationError):
        adapter.validate_python(value)


CORE = TypeAdapter(CoreTimestamp)


@pytest.mark.parametrize("text", ACCEPTED)
def test_pydantic_core_alone_accepts_the_same_instants_keeping_the_offset(text):
    for parse in (CORE.validate_python, lambda value: CORE.validate_json(json.dumps(value))):
        value = parse(text)
        assert to_utc(value) == TypeAdapter(Timestamp).validate_python(text)
        assert value.utcoffset() == offset(text)


def offset(text: str) -> dt.timedelta:
    if text[-1] in "Zz":
        return dt.timedelta(0)
    sign = -1 if text[-6] == "-" else 1
    return sign * dt.timedelta(hours=int(text[-5:-3]), minutes=int(text[-2:]))


@pytest.mark.parametrize("value", REFUSED)
def test_pydantic_core_alone_refuses_the_same_values(value):
    with pytest.raises(ValidationError):
        CORE.validate_python(value)
    with pytest.raises(ValidationError):
        CORE.validate_json(json.dumps(value))
