"""Cursor pagination: an opaque base64 cursor carrying the last row's sort key and id, so a page
is a keyset query (no OFFSET) and stays stable while rows are inserted."""

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from kernel.errors import InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(sort_value: Any, row_id: str) -> str:
    raw = json.dumps([sort_value, row_id], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(row_id, str):
            raise ValueError("id must be a string")
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise invalid_cursor() from None
    return value, row_id


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor is not valid",
        [{"field": "cursor", "message": "not a cursor from this list", "code": "cursor"}],
    )


def as_timestamp(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value))


def as_number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    return value


def keyset(
    model: Any,
    conditions: Sequence[Any],
    sort: Any,
    id_column: Any,
    *,
    descending: bool,
    cursor: str | None,
    limit: int,
    sort_value: Callable[[Any], Any],
) -> Select[Any]:
    """The keyset query of every sorted list: up to limit + 1 rows of `model` matching
    `conditions`, ordered by (sort, id_column), after the row `cursor` names. `sort_value` turns
    the cursor's sort value back into a column value (ValueError/TypeError: a bad cursor, 422)."""
    conditions = list(conditions)
    if cursor:
        value, last_id = decode_cursor(cursor)
        try:
            bound = tuple_(sort_value(value), uuid.UUID(last_id))
        except (ValueError, TypeError):
            raise invalid_cursor() from None
        key = tuple_(sort, id_column)
        conditions.append(key < bound if descending else key > bound)
    order = (sort.desc(), id_column.desc()) if descending else (sort, id_column)
    return select(model).where(*conditions).order_by(*order).limit(limit + 1)


def newest_first(
    session: Session, model: Any, conditions: Sequence[Any], cursor: str | None, limit: int
) -> list[Any]:
    """Up to limit + 1 rows of `model` (it has created_at and a UUID id) matching `conditions`,
    newest first, after the row `cursor` names (made by `page(..., "created_at")`)."""
    statement = keyset(
        model,
        conditions,
        model.created_at,
        model.id,
        descending=True,
        cursor=cursor,
        limit=limit,
        sort_value=as_timestamp,
    )
    return list(session.execute(statement).scalars().all())


def page(items: list[dict[str, Any]], limit: int, sort_key: str) -> dict[str, Any]:
    """`items` holds up to limit + 1 rows; the extra one only says another page exists."""
    return page_by(items, [item[sort_key] for item in items], limit)


def page_by(items: list[dict[str, Any]], sort_values: Sequence[Any], limit: int) -> dict[str, Any]:
    """`page` of a list sorted by values its items do not show: `sort_values[i]` is `items[i]`'s
    (what the cursor carries)."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(sort_values[len(items) - 1], items[-1]["id"]) if has_more else None
    return {"items": items, "next_cursor": next_cursor}
