"""gateway_http: the public REST API (base /api/v1). Handlers parse, authorise, call one RPC and
shape the answer; no business logic lives here."""

from typing import Any

import prometheus_client
from kombu import Connection
from nameko.dependency_providers import Config
from werkzeug.wrappers import Request, Response

from dependencies.redis import Redis
from dependencies.rpc import DeadlineRpcProxy
from gateway_http import openapi
from gateway_http.authn import Authenticator
from gateway_http.bodies import json_body, json_response, no_content
from gateway_http.edge import RouteSpec, route
from services.auth.schemas import (
    Account,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)


class GatewayService:
    name = "gateway_http"

    config = Config()
    auth = Authenticator()
    redis = Redis()
    auth_rpc = DeadlineRpcProxy("auth")

    # --- operations -----------------------------------------------------------------------

    @route("GET", "/healthz", RouteSpec("Process is up", "ops", authenticated=False))
    def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    @route("GET", "/readyz", RouteSpec("Dependencies reachable", "ops", authenticated=False))
    def readyz(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            self.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            with Connection(self.config["AMQP_URI"], connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            checks["rabbitmq"] = "ok"
        except Exception as exc:
            checks["rabbitmq"] = f"unreachable: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return json_response({"status": "ok" if ready else "unavailable", "checks": checks},
                             status=200 if ready else 503)

    @route("GET", "/metrics", RouteSpec("Prometheus metrics", "ops", authenticated=False))
    def metrics(self, request: Request) -> Response:
        return Response(prometheus_client.generate_latest(),
                        content_type=prometheus_client.CONTENT_TYPE_LATEST)

    @route("GET", "/api/v1/openapi.json", RouteSpec("This document", "ops", authenticated=False))
    def openapi_document(self, request: Request) -> Response:
        return json_response(openapi.document())

    # --- auth -----------------------------------------------------------------------------

    @route("POST", "/api/v1/auth/register", RouteSpec(
        "Create a brand or creator account", "auth", body=RegisterRequest,
        responses={201: Account, 409: "email already registered"}, authenticated=False))
    def register(self, request: Request) -> Response:
        body = json_body(request, RegisterRequest)
        return json_response(self.auth_rpc.register(body.model_dump()), status=201)

    @route("POST", "/api/v1/auth/login", RouteSpec(
        "Exchange email and password for tokens", "auth", body=LoginRequest,
        responses={200: TokenPair, 401: "invalid email or password"}, authenticated=False))
    def login(self, request: Request) -> Response:
        body = json_body(request, LoginRequest)
        return json_response(self.auth_rpc.login(body.model_dump(), request.remote_addr or ""))

    @route("POST", "/api/v1/auth/refresh", RouteSpec(
        "Rotate a refresh token", "auth", body=RefreshRequest,
        responses={200: TokenPair, 401: "invalid, expired, revoked or reused token"},
        authenticated=False))
    def refresh(self, request: Request) -> Response:
        body = json_body(request, RefreshRequest)
        return json_response(self.auth_rpc.refresh(body.model_dump()))

    @route("POST", "/api/v1/auth/logout", RouteSpec(
        "Revoke the access token and its session", "auth", body=LogoutRequest,
        body_required=False, responses={204: None}))
    def logout(self, request: Request) -> Response:
        principal = self.auth.authenticate(request)
        body = json_body(request, LogoutRequest, optional=True)
        self.auth_rpc.logout(principal.access_token, body.model_dump(exclude_none=True))
        return no_content()

    @route("GET", "/api/v1/me", RouteSpec("The signed-in account", "me", responses={200: Account}))
    def me(self, request: Request) -> Response:
        principal = self.auth.authenticate(request)
        account: dict[str, Any] = self.auth_rpc.get_account(principal.user_id)
        return json_response(account)
