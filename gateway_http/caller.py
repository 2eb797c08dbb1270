"""Shapes the gateway passes to services: query strings and versions. (The caller's identity
is not an argument: its access token travels in the RPC context, see gateway_http/authn.py.)"""

import hashlib
import json
from typing import Any

from werkzeug.wrappers import Request


def query_params(request: Request) -> dict[str, Any]:
    """Query string as a flat dict (the service validates it with its query model)."""
    return request.args.to_dict(flat=True)


def etag(version: int, extra: Any = None) -> str:
    """The campaign's version; when the answer carries more than the campaign (its brand's view
    with deliverables progress), a digest of that too, after a dot: `"7.3f2a9c01"`."""
    if extra is None:
        return f'"{version}"'
    digest = hashlib.sha256(json.dumps(extra, sort_keys=True).encode()).hexdigest()[:12]
    return f'"{version}.{digest}"'


def expected_version(request: Request) -> int | None:
    """If-Match as a campaign version (the part before any dot): None when absent or "*", -1
    when it names no version (which then never matches and answers 412)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"').split(".", 1)[0]
    return int(value) if value.isdigit() else -1
