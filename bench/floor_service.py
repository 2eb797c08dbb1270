"""The floors bench.gateway compares the gateway with, both plain Nameko:

- bare: an @http endpoint answering GET /api/v1/me with the same JSON body the gateway returns,
  without authentication, rate limits, metrics or RPC (Nameko's HTTP stack alone);
- one-RPC: an @http endpoint (GET /api/v1/me-rpc) that makes one RPC to FloorRpcService, a service
  in its own process returning the same account as a dict, and answers it as JSON: what any
  gateway answering from a service must pay at least.

Run each as its own process: `nameko run --config config.yml bench.floor_service:FloorService`
with GATEWAY_ADDRESS set to the floor's port and FLOOR_BODY_FILE naming the JSON file to serve,
and `nameko run --config config.yml bench.floor_service:FloorRpcService`.
"""

import json
import os
from pathlib import Path
from typing import Any

from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

DEFAULT_BODY = b'{"id": "00000000-0000-0000-0000-000000000000", "email": "floor@bench.local"}'


def response_body() -> bytes:
    path = os.environ.get("FLOOR_BODY_FILE")
    return Path(path).read_bytes() if path else DEFAULT_BODY


class FloorRpcService:
    name = "bench_floor_rpc"
    account = json.loads(response_body())

    @rpc
    def get_account(self) -> dict[str, Any]:
        return self.account

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}


class FloorService:
    name = "bench_floor"
    body = response_body()
    accounts = RpcProxy("bench_floor_rpc")

    @http("GET", "/api/v1/me")
    def me(self, request: Request) -> Response:
        return Response(self.body, content_type="application/json")

    @http("GET", "/floor")
    def floor(self, request: Request) -> Response:
        """The same bytes under a neutral path (bench.marketplace serves a campaign page)."""
        return Response(self.body, content_type="application/json")

    @http("GET", "/api/v1/me-rpc")
    def me_rpc(self, request: Request) -> Response:
        return Response(json.dumps(self.accounts.get_account()), content_type="application/json")

    @http("GET", "/healthz")
    def healthz(self, request: Request) -> Response:
        return Response(b'{"status": "ok"}', content_type="application/json")
