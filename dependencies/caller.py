"""Who a service acts for: the caller's access token, relayed in the Nameko context data.

The gateway and ws put the user's raw access token into the context of every RPC they make
(`auth_token`, nameko's own key; it travels as the AMQP header `nameko.auth_token` and nested calls
made inside a service worker carry it on automatically). A service never trusts an identity written
by its caller: `Caller` verifies the token itself, exactly like the gateway (signature with a key
from the key set, algorithm allowlist, typ, iss, aud, exp/nbf, denylist in Redis), once per worker,
lazily, and raises Unauthenticated when the token is missing, invalid, expired or revoked.
"""

from collections.abc import Sequence
from typing import Any

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.containers import WorkerContext
from nameko.events import EventDispatcher
from nameko.extensions import DependencyProvider
from nameko.messaging import Publisher

from dependencies.queues import QuorumQueue
from dependencies.redis import make_redis
from kernel.denylist import AccessDenylist
from kernel.errors import Unauthenticated
from kernel.schemas import Principal
from kernel.token_cache import VerifiedTokenCache
from kernel.tokens import AccessClaims, TokenCodec

REVOKED = "access token has been revoked"


def verify_caller(
    codec: TokenCodec | VerifiedTokenCache, denylist: AccessDenylist, token: Any
) -> AccessClaims:
    """The claims of a relayed access token once verified, or Unauthenticated."""
    claims = _signed_claims(codec, token)
    if denylist.is_denied(claims.token_id, claims.session_id):
        raise Unauthenticated(REVOKED)
    return claims


def _signed_claims(codec: TokenCodec | VerifiedTokenCache, token: Any) -> AccessClaims:
    """Everything verify_caller checks but the denylist."""
    if not isinstance(token, str) or not token:
        raise Unauthenticated("this call acts for a user and needs the user's access token")
    return codec.decode_access_token(token)


class CallerIdentity:
    """The verified caller of one worker (verification runs on first use, then is remembered)."""

    def __init__(
        self,
        worker_ctx: WorkerContext,
        codec: TokenCodec | VerifiedTokenCache,
        denylist: AccessDenylist,
    ) -> None:
        self._worker_ctx = worker_ctx
        self._codec = codec
        self._denylist = denylist
        self._claims: AccessClaims | None = None

    def claims(self) -> AccessClaims:
        if self._claims is None:
            token = self._worker_ctx.data.get(AUTH_TOKEN_CONTEXT_KEY)
            self._claims = verify_caller(self._codec, self._denylist, token)
        return self._claims

    def principal(self) -> Principal:
        return _principal(self.claims())

    def principals_of(self, tokens: Sequence[Any]) -> list[Principal | Unauthenticated]:
        """The user of each of several relayed tokens, each checked exactly like the call's own
        (for calls that carry several users' requests): a Principal, or the Unauthenticated its
        token earns. The denylist is read once for all of them."""
        checked: list[AccessClaims | Unauthenticated] = []
        for token in tokens:
            try:
                checked.append(_signed_claims(self._codec, token))
            except Unauthenticated as refused:
                checked.append(refused)
        revoked = self._denylist.denied_among(
            (claims.token_id, claims.session_id)
            for claims in checked
            if not isinstance(claims, Unauthenticated)
        )

        def answer(claims: AccessClaims | Unauthenticated) -> Principal | Unauthenticated:
            if isinstance(claims, Unauthenticated):
                return claims
            if (claims.token_id, claims.session_id) in revoked:
                return Unauthenticated(REVOKED)
            return _principal(claims)

        return [answer(claims) for claims in checked]


def _principal(claims: AccessClaims) -> Principal:
    return Principal(user_id=claims.subject, role=claims.role)  # type: ignore[arg-type]


class Caller(DependencyProvider):
    def setup(self) -> None:
        config: dict[str, Any] = self.container.config
        # Signatures checked once per token and process; exp on every use, the denylist below.
        self.codec = VerifiedTokenCache(TokenCodec.from_config(config))
        self.denylist = AccessDenylist(make_redis(config))

    def get_dependency(self, worker_ctx: WorkerContext) -> CallerIdentity:
        return CallerIdentity(worker_ctx, self.codec, self.denylist)


def without_auth_token(headers: dict[str, Any]) -> dict[str, Any]:
    """Message headers minus the relayed token: events and queued work outlive the call and
    reach consumers that act for nobody, so the token stays on RPC requests only."""
    return {key: value for key, value in headers.items() if not key.endswith(AUTH_TOKEN_KEY_SUFFIX)}


AUTH_TOKEN_KEY_SUFFIX = f".{AUTH_TOKEN_CONTEXT_KEY}"


class TokenlessEventDispatcher(EventDispatcher):
    """EventDispatcher that does not copy the caller's access token into event headers."""

    def get_message_headers(self, worker_ctx: WorkerContext) -> dict[str, Any]:
        return without_auth_token(super().get_message_headers(worker_ctx))


class TokenlessPublisher(Publisher):
    """Publisher that does not copy the caller's access token into message headers. A
    `QuorumQueue` in `declare` is declared with its consumer's arguments (from the config)."""

    def setup(self) -> None:
        self.declare = [
            entity.configured(self.container.config) if isinstance(entity, QuorumQueue) else entity
            for entity in self.declare
        ]
        super().setup()

    def get_message_headers(self, worker_ctx: WorkerContext) -> dict[str, Any]:
        return without_auth_token(super().get_message_headers(worker_ctx))
