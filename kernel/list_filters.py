"""Filters of the searchable lists (campaigns, creator discovery): ranges and full-text search."""

from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func

from kernel.errors import InvalidInput


def check_bounds(params: BaseModel, low: str, high: str) -> None:
    """422 when both bounds are given and `low` is above `high`."""
    low_value, high_value = getattr(params, low), getattr(params, high)
    if low_value is not None and high_value is not None and low_value > high_value:
        raise InvalidInput(
            f"{low} is above {high}",
            [{"field": low, "message": f"must not exceed {high}", "code": "range"}],
        )


def within(column: Any, low: Any, high: Any) -> list[ColumnElement[bool]]:
    """`column` between the bounds that are given (None: no bound)."""
    conditions = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column <= high)
    return conditions


def matches_text(search_document: Any, q: str) -> ColumnElement[bool]:
    """The row's tsvector matches `q` in web-search syntax, without stemming (config simple)."""
    return search_document.op("@@")(func.websearch_to_tsquery("simple", q))
