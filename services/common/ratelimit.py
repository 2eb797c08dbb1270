"""Rate limits kept in Redis (the `limits` library, sliding-window counters), shared by every
process so the limit holds across replicas. Used by gateway_http (per subject, per IP) and by auth
(login failures per account, login attempts per IP)."""

import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees capacity

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class RateLimiter:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(redis_url))
        self._namespace = namespace

    def _decision(self, allowed: bool, item: RateLimitItem, key: str) -> Decision:
        stats = self._limiter.get_window_stats(item, self._namespace, key)
        reset_after = max(1, int(stats.reset_time - time.time() + 0.999))
        return Decision(allowed, item.amount, max(0, stats.remaining), reset_after)

    def hit(self, limit: str, key: str) -> Decision:
        """Count one request against `limit` (e.g. "600/minute") for `key`."""
        item = parse(limit)
        allowed = self._limiter.hit(item, self._namespace, key)
        return self._decision(allowed, item, key)

    def peek(self, limit: str, key: str) -> Decision:
        """Would one more request be allowed? Counts nothing."""
        item = parse(limit)
        allowed = self._limiter.test(item, self._namespace, key)
        return self._decision(allowed, item, key)

    def reset(self, limit: str, key: str) -> None:
        self._limiter.clear(parse(limit), self._namespace, key)
