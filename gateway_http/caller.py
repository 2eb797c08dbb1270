"""Shapes the gateway passes to services: query strings and versions. (The caller's identity
is not an argument: its access token travels in the RPC context, see gateway_http/authn.py.)"""

from typing import Any

from werkzeug.wrappers import Request


def query_params(request: Request) -> dict[str, Any]:
    """Query string as a flat dict (the service validates it with its query model)."""
    return request.args.to_dict(flat=True)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request) -> int | None:
    """If-Match as a campaign version: None when absent or "*", -1 when it names no version
    (which then never matches and answers 412)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    return int(value) if value.isdigit() else -1
