"""RFC 9457 problem details: the only shape an error leaves the gateway in."""

import json
from typing import Any

from werkzeug.wrappers import Response

from kernel.errors import DomainError

PROBLEM_TYPE_BASE = "https://errors.influencer.local/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    slug: str,
    instance: str,
    request_id: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        "errors": errors or [],
    }
    return Response(
        json.dumps(body), status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def problem_from_error(error: DomainError, *, instance: str, request_id: str) -> Response:
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if error.status == 429:
        headers["Retry-After"] = str(getattr(error, "retry_after", 1))
    errors = [] if error.status == 429 else error.errors
    return problem_response(
        status=error.status,
        title=error.title,
        detail=error.detail,
        slug=error.slug,
        instance=instance,
        request_id=request_id,
        errors=errors,
        headers=headers,
    )


def internal_error(*, instance: str, request_id: str) -> Response:
    return problem_response(
        status=500,
        title="Internal server error",
        detail=f"the request failed; quote request id {request_id} when reporting it",
        slug="internal-error",
        instance=instance,
        request_id=request_id,
    )
