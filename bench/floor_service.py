"""The floor bench.gateway compares the gateway with: a bare Nameko @http endpoint that answers
GET /api/v1/me with the same JSON body the gateway returns, without authentication, rate limits,
metrics or RPC. Whatever the gateway costs beyond this is the price of its own work.

Run as its own process: `nameko run --config config.yml bench.floor_service:FloorService` with
GATEWAY_ADDRESS set to the floor's port and FLOOR_BODY_FILE naming the JSON file to serve.
"""

import os
from pathlib import Path

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

DEFAULT_BODY = b'{"id": "00000000-0000-0000-0000-000000000000", "email": "floor@bench.local"}'


def response_body() -> bytes:
    path = os.environ.get("FLOOR_BODY_FILE")
    return Path(path).read_bytes() if path else DEFAULT_BODY


class FloorService:
    name = "bench_floor"
    body = response_body()

    @http("GET", "/api/v1/me")
    def me(self, request: Request) -> Response:
        return Response(self.body, content_type="application/json")

    @http("GET", "/healthz")
    def healthz(self, request: Request) -> Response:
        return Response(b'{"status": "ok"}', content_type="application/json")
