"""Who is calling: bearer-token verification (signature, algorithm, iss, aud, exp/nbf, denylist),
the per-subject rate limit, and role checks, run by the `route` entrypoint from each RouteSpec
before the handler's worker starts (gateway_http.specs; the checks themselves run in one Redis
round trip at the edge: gateway_http.admission). An authenticated request's token goes into the
worker's Nameko context data (`auth_token`), so every RPC the handler makes relays it and the
service verifies the caller itself (dependencies/caller.py)."""

from dataclasses import dataclass
from typing import Any

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from werkzeug.wrappers import Request

from gateway_http.admission import (
    ADMISSION,
    RATE_LIMIT,
    RATE_LIMITED,
    Admission,
    Gatekeeper,
    optional_bearer_token,
)
from kernel.errors import Forbidden, TooManyRequests, Unauthenticated


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    session_id: str
    access_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def bearer_token(request: Request) -> str:
    token = optional_bearer_token(request.environ)
    if token is None:
        raise Unauthenticated("missing bearer token in the Authorization header")
    return token


class RequestAuthenticator:
    def __init__(self, gatekeeper: Gatekeeper, context_data: dict[str, Any] | None = None) -> None:
        self._gatekeeper = gatekeeper
        self._context_data = context_data if context_data is not None else {}

    def authenticate(self, request: Request) -> Principal:
        token = bearer_token(request)
        # The edge already verified the token and ran the checks in its one Redis round trip
        # (gateway_http.admission); a request that did not come through the edge does it here.
        admission: Admission | None = request.environ.get(ADMISSION)
        if admission is None or admission.token != token:
            admission = self._gatekeeper.admit(token)
        if admission.error is not None:
            raise admission.error
        claims, decision = admission.claims, admission.subject
        assert claims is not None and decision is not None
        request.environ[RATE_LIMIT] = decision
        if not decision.allowed:
            RATE_LIMITED.labels("subject").inc()
            raise TooManyRequests.retry_in(
                "too many requests for this account", decision.reset_after
            )
        self._context_data[AUTH_TOKEN_CONTEXT_KEY] = token  # relayed with every RPC of the worker
        return Principal(claims.subject, claims.role, claims.session_id, token)

    def require(self, request: Request, *roles: str) -> Principal:
        """Authenticate and insist on one of `roles` (none given: any signed-in role)."""
        principal = self.authenticate(request)
        if roles and principal.role not in roles:
            raise Forbidden(f"this action needs the role {' or '.join(roles)}")
        return principal
