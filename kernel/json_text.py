"""JSON text from outside the platform, parsed with bounds: text that is not JSON, or that nests
deeper than any request schema does, is a MalformedJson (400), never a RecursionError (500).
The gateway parses bodies with it, and analytics the raw event batches the gateway passes on."""

import json
from typing import Any

from kernel.errors import MalformedJson

# No request schema nests deeper than a handful of levels; 32 leaves room and bounds the work
# (and the recursion) of everything that walks a body after parsing.
MAX_JSON_DEPTH = 32


def parse_json_text(raw: str | bytes) -> Any:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        too_deep = True
    else:
        too_deep = nesting_exceeds(data, MAX_JSON_DEPTH)
    if too_deep:
        raise MalformedJson(f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def nesting_exceeds(data: Any, limit: int) -> bool:
    """Are arrays/objects nested more than `limit` deep? Iterative: no recursion to exhaust."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
