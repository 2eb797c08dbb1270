"""Redis keys that revoke access tokens before they expire: one per token (jti), one per session.

auth writes them (PostgreSQL keeps the source of truth and re-asserts them after a Redis restart);
gateway_http and ws read them on every authenticated request.
"""

from collections.abc import Iterable

import redis

TOKEN_KEY = "auth:denied:jti:{}"  # noqa: S105 - a key name, not a secret
SESSION_KEY = "auth:denied:sid:{}"


class AccessDenylist:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def deny_token(self, token_id: str, ttl_seconds: int) -> None:
        if ttl_seconds > 0:
            self._redis.set(TOKEN_KEY.format(token_id), 1, ex=ttl_seconds)

    def deny_session(self, session_id: str, ttl_seconds: int) -> None:
        if ttl_seconds > 0:
            self._redis.set(SESSION_KEY.format(session_id), 1, ex=ttl_seconds)

    def is_denied(self, token_id: str, session_id: str) -> bool:
        return bool(self.denied_among([(token_id, session_id)]))

    def denied_among(self, tokens: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (token_id, session_id) pairs are revoked, in one round trip."""
        pairs = list(dict.fromkeys(tokens))
        if not pairs:
            return set()
        keys = [
            key
            for token_id, session_id in pairs
            for key in (TOKEN_KEY.format(token_id), SESSION_KEY.format(session_id))
        ]
        values = self._redis.mget(keys)
        return {
            pair
            for index, pair in enumerate(pairs)
            if values[2 * index] is not None or values[2 * index + 1] is not None
        }
