"""Rate limits kept in Redis (the `limits` library, sliding-window counters), shared by every
process so the limit holds across replicas. Used by gateway_http (per subject, per IP); auth
budgets login failures and registrations with AttemptLimiter (atomic: decided and counted in one
Redis round trip)."""

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


# One round trip decides and counts: every budget is pruned to its window, the attempt is refused
# if any budget is full (and then counted nowhere), else it is recorded in all of them at once. So
# N concurrent attempts never admit more than a budget allows. Each attempt is one member of a
# sorted set scored by its time (a sliding log, at most `limit` members per key), so a refund
# removes exactly that attempt.
_RESERVE = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local denied, wait = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local free_in = tonumber(oldest[2]) + window - now
    if denied == 0 or free_in > wait then
      denied, wait = i, free_in
    end
  end
end
if denied > 0 then
  return {denied, wait}
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
end
return {0, 0}
"""


@dataclass(frozen=True)
class Budget:
    """At most `limit` (e.g. "5/15minute") attempts under `key`; `name` tells them apart."""

    name: str
    limit: str
    key: str


@dataclass(frozen=True)
class Attempt:
    """The outcome of AttemptLimiter.reserve: admitted (and counted), or refused by `refused_by`."""

    member: str
    keys: tuple[str, ...]
    refused_by: Budget | None = None
    retry_after: int = 0

    @property
    def allowed(self) -> bool:
        return self.refused_by is None


class AttemptLimiter:
    """Budgets of attempts (login failures, registrations) kept in Redis, checked and counted
    atomically by one Lua script; an attempt that turns out fine can be refunded."""

    def __init__(self, redis: Any, namespace: str) -> None:
        self._redis = redis
        self._namespace = namespace
        self._reserve = redis.register_script(_RESERVE)

    def _key(self, key: str) -> str:
        return f"attempts:{self._namespace}:{key}"

    def reserve(self, budgets: Sequence[Budget]) -> Attempt:
        member = uuid.uuid4().hex
        keys = tuple(self._key(budget.key) for budget in budgets)
        args: list[Any] = [int(time.time() * 1000), member]
        for budget in budgets:
            item = parse(budget.limit)
            args += [item.amount, item.get_expiry() * 1000]
        denied, wait_ms = self._reserve(keys=list(keys), args=args)
        if int(denied) == 0:
            return Attempt(member, keys)
        retry_after = max(1, math.ceil(int(wait_ms) / 1000))
        return Attempt(member, keys, refused_by=budgets[int(denied) - 1], retry_after=retry_after)

    def refund(self, attempt: Attempt) -> None:
        """Take back an admitted attempt (it succeeded, or failed for reasons of our own)."""
        if attempt.allowed:
            pipe = self._redis.pipeline(transaction=False)
            for key in attempt.keys:
                pipe.zrem(key, attempt.member)
            pipe.execute()

    def clear(self, key: str) -> None:
        self._redis.delete(self._key(key))
