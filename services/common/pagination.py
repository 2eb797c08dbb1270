"""Cursor pagination: an opaque base64 cursor carrying the last row's sort key and id, so a page
is a keyset query (no OFFSET) and stays stable while rows are inserted."""

import base64
import binascii
import json
from typing import Any

from services.common.errors import InvalidInput

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
        raise InvalidInput(
            "cursor is not valid",
            [{"field": "cursor", "message": "not a cursor from this list", "code": "cursor"}],
        ) from None
    return value, row_id


def page(items: list[dict[str, Any]], limit: int, sort_key: str) -> dict[str, Any]:
    """`items` holds up to limit + 1 rows; the extra one only says another page exists."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1][sort_key], items[-1]["id"]) if has_more else None
    return {"items": items, "next_cursor": next_cursor}
