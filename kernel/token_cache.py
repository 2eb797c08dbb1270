"""A bounded cache of verified access tokens, so a token's EdDSA signature is checked once per
process instead of on every request. A hit still checks expiry (with the codec's leeway) on every
use; revocation (the denylist) is never cached and stays the caller's job on every request.

Keyed by the whole token string: a cached entry is only ever returned for the exact bytes that
were verified, so a forged or altered token always misses and is verified (and refused) in full.
Used by gateway_http (and any service verifying relayed tokens) in front of TokenCodec.
"""

import time
from collections.abc import Callable

import prometheus_client

from kernel.errors import Unauthenticated
from kernel.tokens import AccessClaims, TokenCodec

DEFAULT_MAX_ENTRIES = 10_000

LOOKUPS = prometheus_client.Counter(
    "token_cache_lookups_total",
    "Access tokens looked up in this process's verified-token cache (miss: signature checked).",
    ["result"],
)
HIT, MISS = LOOKUPS.labels("hit"), LOOKUPS.labels("miss")


class VerifiedTokenCache:
    def __init__(
        self,
        codec: TokenCodec,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self.max_entries = max_entries
        self._clock = clock
        self._claims: dict[str, AccessClaims] = {}

    def __len__(self) -> int:
        return len(self._claims)

    def decode_access_token(self, token: str) -> AccessClaims:
        """The token's verified claims; raises Unauthenticated like TokenCodec does."""
        claims = self._claims.get(token)
        (MISS if claims is None else HIT).inc()
        if claims is None:
            claims = self.codec.decode_access_token(token)  # raises on any defect
            if len(self._claims) >= self.max_entries:
                # Oldest first (dicts keep insertion order): tokens live minutes, the oldest
                # entries are the nearest to expiry.
                del self._claims[next(iter(self._claims))]
            self._claims[token] = claims
        if claims.expires_at + self.codec.leeway_seconds <= self._clock():
            self._claims.pop(token, None)
            raise Unauthenticated("access token expired")
        return claims
