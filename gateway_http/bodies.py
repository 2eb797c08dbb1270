"""Reading JSON request bodies and writing JSON responses at the edge."""

import json
from typing import Any

from pydantic import BaseModel
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from services.common.errors import DomainError
from services.common.schemas import Model, parse_model

# No request schema nests deeper than a handful of levels; 32 leaves room and bounds the work
# (and the recursion) of everything that walks a body after parsing.
MAX_JSON_DEPTH = 32


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class MalformedJson(DomainError):
    status = 400
    title = "Malformed JSON"
    slug = "malformed-json"


def read_json(request: Request, *, optional: bool = False) -> Any:
    """Parse the body as JSON. An empty body is None when `optional`, else an error."""
    try:
        raw = request.get_data(cache=True)
        limit = request.max_content_length
        if request.content_length is None and limit is not None and len(raw) >= limit:
            request.stream.read(1)  # a chunked body stops at the limit: does it go on?
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"request body exceeds {request.max_content_length} bytes") from None
    if not raw and optional:
        return None
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"expected Content-Type application/json, got {request.mimetype or 'none'}"
        )
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        data = None
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


def json_body(request: Request, model: type[Model], *, optional: bool = False) -> Model:
    data = read_json(request, optional=optional)
    if data is None and optional:
        data = {}
    return parse_model(model, data)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if isinstance(payload, BaseModel):
        body = payload.model_dump_json()
    else:
        body = json.dumps(payload, default=str)
    return Response(body, status=status, headers=headers, content_type="application/json")


def no_content() -> Response:
    return Response(status=204)
