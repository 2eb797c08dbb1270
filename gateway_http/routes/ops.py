"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document."""

from typing import Any

import prometheus_client
from werkzeug.wrappers import Request, Response

from dependencies.health import readiness
from gateway_http import openapi
from gateway_http.bodies import json_response
from gateway_http.edge import RouteSpec, route


class OpsRoutes:
    config: dict[str, Any]
    redis: Any

    @route("GET", "/healthz", RouteSpec("Process is up", "ops", authenticated=False))
    def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    @route("GET", "/readyz", RouteSpec("Dependencies reachable", "ops", authenticated=False))
    def readyz(self, request: Request) -> Response:
        ready, body = readiness(self.redis, self.config["AMQP_URI"])
        return json_response(body, status=200 if ready else 503)

    @route(
        "GET",
        "/metrics",
        RouteSpec(
            "Prometheus metrics",
            "ops",
            authenticated=False,
            media_type=prometheus_client.CONTENT_TYPE_LATEST.split(";")[0],
        ),
    )
    def metrics(self, request: Request) -> Response:
        return Response(
            prometheus_client.generate_latest(), content_type=prometheus_client.CONTENT_TYPE_LATEST
        )

    @route("GET", "/api/v1/openapi.json", RouteSpec("This document", "ops", authenticated=False))
    def openapi_document(self, request: Request) -> Response:
        return json_response(openapi.document(type(self)))
