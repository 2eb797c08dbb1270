"""Redis keys that revoke access tokens before they expire: one per token (jti), one per session.

auth writes them (PostgreSQL keeps the source of truth and re-asserts them after a Redis restart);
gateway_http and ws read them on every authenticated request.
"""

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
        return bool(self._redis.exists(TOKEN_KEY.format(token_id), SESSION_KEY.format(session_id)))
