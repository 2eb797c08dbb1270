"""Reading JSON request bodies and writing JSON responses at the edge."""

import json
from typing import Any

from pydantic import BaseModel
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from services.common.errors import DomainError
from services.common.schemas import Model, parse_model


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
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"request body exceeds {request.max_content_length} bytes") from None
    if not raw and optional:
        return None
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"expected Content-Type application/json, got {request.mimetype or 'none'}"
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None


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
