"""/api/v1/auth/* and /api/v1/me."""

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.bodies import json_response, no_content
from gateway_http.edge import RouteSpec, route
from services.auth.schemas import (
    Account,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)


class AuthRoutes:
    auth_rpc: Any

    @route(
        "POST",
        "/api/v1/auth/register",
        RouteSpec(
            "Create a brand or creator account",
            "auth",
            body=RegisterRequest,
            responses={
                201: Account,
                409: "email already registered",
                429: "too many registrations from this address",
            },
            authenticated=False,
            rules=(
                "email: an address email-validator accepts (RFC 5321/5322, a public domain)",
                "password: at least AUTH.PASSWORD_MIN_LENGTH characters (default 10), not only "
                "whitespace, not the email address",
            ),
        ),
    )
    def register(self, request: Request, body: Any) -> Response:
        account = self.auth_rpc.register(body, request.remote_addr or "")
        return json_response(account, status=201)

    @route(
        "POST",
        "/api/v1/auth/login",
        RouteSpec(
            "Exchange email and password for tokens",
            "auth",
            body=LoginRequest,
            responses={
                200: TokenPair,
                401: "invalid email or password",
                429: "too many failed logins (from this address, for this account)",
            },
            authenticated=False,
        ),
    )
    def login(self, request: Request, body: Any) -> Response:
        return json_response(self.auth_rpc.login(body, request.remote_addr or ""))

    @route(
        "POST",
        "/api/v1/auth/refresh",
        RouteSpec(
            "Rotate a refresh token",
            "auth",
            body=RefreshRequest,
            responses={200: TokenPair, 401: "invalid, expired, revoked or reused token"},
            authenticated=False,
        ),
    )
    def refresh(self, request: Request, body: Any) -> Response:
        return json_response(self.auth_rpc.refresh(body))

    @route(
        "POST",
        "/api/v1/auth/logout",
        RouteSpec(
            "Revoke the access token and its session",
            "auth",
            body=LogoutRequest,
            body_required=False,
            responses={204: None},
        ),
    )
    def logout(self, request: Request, body: Any) -> Response:
        self.auth_rpc.logout(body)
        return no_content()

    @route("GET", "/api/v1/me", RouteSpec("The signed-in account", "me", responses={200: Account}))
    def me(self, request: Request) -> Response:
        return json_response(self.auth_rpc.get_own_account())
