"""Reading JSON request bodies and writing JSON responses at the edge."""

import json
from typing import Any

from pydantic import BaseModel
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from kernel.errors import DomainError
from kernel.json_text import parse_json_text


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


def read_body(request: Request, *, optional: bool = False) -> bytes | None:
    """The raw JSON body within the size limit. An empty body is None when `optional`."""
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
    return raw


def read_json(request: Request, *, optional: bool = False) -> Any:
    """Parse the body as JSON. An empty body is None when `optional`, else an error."""
    raw = read_body(request, optional=optional)
    return None if raw is None else parse_json_text(raw)


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
