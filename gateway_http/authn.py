"""Who is calling: bearer-token verification (signature, algorithm, iss, aud, exp/nbf, denylist),
the per-subject rate limit, and role checks for the routes. An authenticated request's token goes
into the worker's Nameko context data (`auth_token`), so every RPC the handler makes relays it and
the service verifies the caller itself (dependencies/caller.py)."""

from dataclasses import dataclass
from typing import Any

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Request

from dependencies.redis import make_redis
from gateway_http.edge import RATE_LIMIT, RATE_LIMITED
from services.common.denylist import AccessDenylist
from services.common.errors import Forbidden, TooManyRequests, Unauthenticated
from services.common.ratelimit import RateLimiter
from services.common.tokens import TokenCodec


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
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token in the Authorization header")
    return token.strip()


class RequestAuthenticator:
    def __init__(
        self,
        codec: TokenCodec,
        denylist: AccessDenylist,
        limiter: RateLimiter,
        per_subject: str,
        context_data: dict[str, Any] | None = None,
    ) -> None:
        self._context_data = context_data if context_data is not None else {}
        self._codec = codec
        self._denylist = denylist
        self._limiter = limiter
        self._per_subject = per_subject

    def authenticate(self, request: Request) -> Principal:
        token = bearer_token(request)
        claims = self._codec.decode_access_token(token)
        if self._denylist.is_denied(claims.token_id, claims.session_id):
            raise Unauthenticated("access token has been revoked")
        decision = self._limiter.hit(self._per_subject, f"sub:{claims.subject}")
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


class Authenticator(DependencyProvider):
    def setup(self) -> None:
        config: dict[str, Any] = self.container.config
        self.codec = TokenCodec.from_config(config)
        self.denylist = AccessDenylist(make_redis(config))
        self.limiter = RateLimiter(config["REDIS_URL"], namespace="gateway")
        self.per_subject = str(config["GATEWAY"]["RATE_LIMIT_PER_SUBJECT"])

    def get_dependency(self, worker_ctx: WorkerContext) -> RequestAuthenticator:
        return RequestAuthenticator(
            self.codec, self.denylist, self.limiter, self.per_subject, worker_ctx.data
        )
