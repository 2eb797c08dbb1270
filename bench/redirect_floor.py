"""The floor bench.tracking compares the redirect with: a bare Nameko @http endpoint answering
GET /t/<code> with the same 302 (a fixed Location), without the code lookup, visitor check,
click queueing, rate limit or metrics. Whatever GET /t/{code} costs beyond it is its own work.

Run as its own process: `nameko run --config config.yml bench.redirect_floor:RedirectFloor`
with GATEWAY_ADDRESS set to the floor's port and FLOOR_LOCATION to the Location to answer.
"""

import os

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

LOCATION = os.environ.get("FLOOR_LOCATION", "https://shop.example/")


class RedirectFloor:
    name = "bench_redirect_floor"

    @http("GET", "/t/<code>")
    def follow(self, request: Request, code: str) -> Response:
        return Response(
            status=302, headers={"Location": LOCATION, "Cache-Control": "private, no-store"}
        )

    @http("GET", "/healthz")
    def healthz(self, request: Request) -> Response:
        return Response(b'{"status": "ok"}', content_type="application/json")
