"""Admission of one request in one Redis round trip: the per-IP rate limit, the access-token
denylist and the per-subject rate limit together in one Lua script (redis-py register_script),
with the token's signature verified by a per-process cache of verified tokens.

The limits are the `limits` library's sliding-window counters, with the library's own key layout
and arithmetic, so they stay shared with every process and with kernel.ratelimit
(RateLimiter(namespace="gateway") counts in and reads the same windows). Steps run in the order the
gateway always applied them and stop at the first refusal: the IP limit, then the denylist, then
the subject limit; a refused or revoked request never counts against its subject. The requests
of a process waiting for Redis at the same moment share one call of the script (AdmissionBatcher),
which decides each of them exactly as a call of its own would.
"""

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import eventlet
import prometheus_client
import redis
from eventlet.event import Event
from limits import RateLimitItem, parse
from limits.storage.redis import RedisStorage

from dependencies.redis import make_redis
from kernel.denylist import SESSION_KEY, TOKEN_KEY
from kernel.errors import DomainError, Unauthenticated
from kernel.ratelimit import Decision
from kernel.token_cache import DEFAULT_MAX_ENTRIES, VerifiedTokenCache
from kernel.tokens import AccessClaims, TokenCodec
from services.campaigns.cache import GENERATION_KEY as CAMPAIGN_LISTS_GENERATION

# One call of the script admits every request waiting at that moment (AdmissionBatcher): ARGV[1]
# is the number of requests, ARGV[2 .. n+1] each request's steps, then the steps' arguments in
# order; KEYS are the steps' keys in order. Steps: "L" (a sliding-window limit: 2 keys, 2 args:
# limit, expiry seconds), "D" (the denylist: 2 keys, no args) and "G" (read a watched key: 1 key;
# "" when absent). The "L" step is limits' acquire_sliding_window.lua followed by its
# sliding_window.lua read, in one place. A step that refuses ends its request: its later steps
# are skipped (their keys and arguments passed over) and the next request is admitted as if by a
# script of its own, so a batch decides exactly what its requests one by one would have.
SCRIPT = """
local count = tonumber(ARGV[1])
local key, arg = 1, count + 2
local results = {}
for request = 1, count do
  local steps = ARGV[1 + request]
  local out = {}
  local refused = false
  for index = 1, #steps do
    local step = string.sub(steps, index, index)
    if step == 'G' then
      if not refused then out[#out + 1] = {redis.call('get', KEYS[key]) or ''} end
      key = key + 1
    elseif step == 'D' then
      if not refused then
        local denied = redis.call('exists', KEYS[key], KEYS[key + 1])
        out[#out + 1] = {denied}
        refused = denied > 0
      end
      key = key + 2
    else
      if not refused then
        local previous_key, current_key = KEYS[key], KEYS[key + 1]
        local limit = tonumber(ARGV[arg])
        local expiry = tonumber(ARGV[arg + 1]) * 1000
        local current_ttl = tonumber(redis.call('pttl', current_key))
        if current_ttl > 0 and current_ttl < expiry then
          redis.call('rename', current_key, previous_key)
          redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
        end
        local previous_count = tonumber(redis.call('get', previous_key)) or 0
        local previous_ttl = math.max(0, tonumber(redis.call('pttl', previous_key)) or 0)
        local current_count = tonumber(redis.call('get', current_key)) or 0
        current_ttl = math.max(0, tonumber(redis.call('pttl', current_key)) or 0)
        local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
        local acquired = 0
        if weighted + 1 <= limit then
          acquired = 1
          if redis.call('exists', current_key) == 1 then
            current_count = redis.call('incrby', current_key, 1)
          else
            redis.call('set', current_key, 1, 'PX', expiry * 2)
            current_count, current_ttl = 1, expiry * 2
          end
        end
        out[#out + 1] = {acquired, previous_count, previous_ttl, current_count, current_ttl}
        refused = acquired == 0
      end
      key, arg = key + 2, arg + 2
    end
  end
  results[request] = out
end
return results
"""
MAX_BATCH = 64  # requests per script call


@dataclass
class _Waiting:
    steps: str
    keys: list[str]
    args: list[Any]
    done: Event = field(default_factory=Event)


class AdmissionBatcher:
    """Admits every request that is waiting for Redis at once in one call of SCRIPT, and reads
    the watched keys once for them all ("natural batching": nothing waits on purpose). The first
    request starts a flusher greenthread that sends what is queued, and while that round trip is
    out the next requests queue up for the next call; when the queue is empty the flusher ends.
    Redis runs a script atomically, so a batch decides what its requests sent one by one in the
    same order would have: the limits stay exact and shared, revocation as immediate as before.
    Under load, a process's admission costs one command per batch instead of one per request."""

    def __init__(
        self, client: redis.Redis, watched: tuple[str, ...], max_batch: int = MAX_BATCH
    ) -> None:
        self._script = client.register_script(SCRIPT)
        self.watched = watched
        self.max_batch = max_batch
        self._queue: list[_Waiting] = []
        self._flushing = False

    def run(self, steps: str, keys: list[str], args: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """The request's replies (one per step run) and the watched keys' values."""
        waiting = _Waiting(steps, keys, args)
        self._queue.append(waiting)
        if not self._flushing:
            self._flushing = True
            eventlet.spawn_n(self._flush)
        replies: tuple[list[Any], dict[str, str]] = waiting.done.wait()
        return replies

    def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                try:
                    results = self._call(batch)
                except BaseException as exc:  # every request of the batch fails like its own call
                    for waiting in batch:
                        waiting.done.send_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                watched = dict(zip(self.watched, (reply[0] for reply in results[-1]), strict=True))
                for waiting, replies in zip(batch, results, strict=False):
                    waiting.done.send((replies, watched))
        finally:
            self._flushing = False

    def _call(self, batch: list[_Waiting]) -> list[Any]:
        steps = [waiting.steps for waiting in batch]
        keys: list[str] = []
        args: list[Any] = []
        for waiting in batch:
            keys += waiting.keys
            args += waiting.args
        steps.append("G" * len(self.watched))  # read once, after every request of the batch
        keys += self.watched
        results: list[Any] = self._script(keys=keys, args=[len(steps), *steps, *args])
        return results


def optional_bearer_token(environ: dict[str, Any]) -> str | None:
    """The bearer token of the Authorization header, or None when there is none."""
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@functools.lru_cache(maxsize=64)
def limit_item(limit: str) -> RateLimitItem:
    return parse(limit)


def window_keys(namespace: str, item: RateLimitItem, key: str) -> tuple[str, str]:
    """(previous, current) window keys exactly as limits' RedisStorage names them."""
    current = f"{RedisStorage.PREFIX}:{{{item.key_for(namespace, key)}}}"
    return f"{current}/-1", current


def decision_of(item: RateLimitItem, window: list[int]) -> Decision:
    """limits' SlidingWindowCounterRateLimiter.get_window_stats arithmetic on the script's read."""
    acquired, previous_count, previous_ttl_ms, current_count, current_ttl_ms = window
    expiry = item.get_expiry()
    previous_in, current_in = previous_ttl_ms / 1000, current_ttl_ms / 1000
    weighted = previous_count * previous_in / expiry + current_count
    remaining = max(0, item.amount - math.floor(weighted))
    reset_in = 0.0
    if previous_count or current_count:
        reset_in = min(
            previous_in % (expiry / previous_count) if previous_count else math.inf,
            # a window set within this very script has exactly 2 * expiry left: a full expiry
            (current_in % expiry or expiry) if current_count else math.inf,
        )
    return Decision(bool(acquired), item.amount, remaining, max(1, int(reset_in + 0.999)))


@dataclass(frozen=True)
class Admission:
    """What the gateway learnt about a request before any worker ran. `error` is raised when the
    route authenticates (a bad token is no concern of a route that needs none)."""

    token: str | None
    ip: Decision | None = None
    claims: AccessClaims | None = None
    subject: Decision | None = None
    error: DomainError | None = None
    watched: dict[str, str] = field(default_factory=dict)  # watched key -> value ("" if absent)


class Gatekeeper:
    def __init__(
        self,
        client: redis.Redis,
        tokens: VerifiedTokenCache,
        namespace: str,
        per_subject: str,
        per_ip: str | None = None,
        watched: tuple[str, ...] = (),
    ) -> None:
        """`watched`: keys read in the same round trip (after the checks) for what the route
        serves from them, e.g. the campaign lists' cache generation."""
        self.tokens = tokens
        self.watched = watched
        self.namespace = namespace
        self.per_subject = per_subject
        self.per_ip = per_ip
        self._batcher = AdmissionBatcher(client, watched)

    def admit(self, token: str | None, ip_key: str | None = None) -> Admission:
        """Verify `token` (if any) and run the checks in one round trip; with `ip_key`, the per-IP
        limit first. Only a refused IP limit stops the request here; see Admission.error."""
        claims: AccessClaims | None = None
        error: DomainError | None = None
        if token is not None:
            try:
                claims = self.tokens.decode_access_token(token)
            except Unauthenticated as exc:
                error = exc
        steps, keys, args = "", [], []
        limits: list[tuple[str, RateLimitItem]] = []
        if ip_key is not None and self.per_ip is not None:
            item = limit_item(self.per_ip)
            steps += "L"
            keys += window_keys(self.namespace, item, ip_key)
            args += [item.amount, item.get_expiry()]
            limits.append(("ip", item))
        if claims is not None:
            steps += "D"
            keys += [TOKEN_KEY.format(claims.token_id), SESSION_KEY.format(claims.session_id)]
            item = limit_item(self.per_subject)
            steps += "L"
            keys += window_keys(self.namespace, item, f"sub:{claims.subject}")
            args += [item.amount, item.get_expiry()]
            limits.append(("subject", item))
        if not steps and not self.watched:
            return Admission(token, error=error)
        replies, watched = self._batcher.run(steps, keys, args)
        decisions: dict[str, Decision] = {}
        for step, reply in zip(steps, replies, strict=False):  # steps after a refusal: no reply
            if step == "D":
                if reply[0]:
                    error = Unauthenticated("access token has been revoked")
                continue
            scope, item = limits.pop(0)
            decisions[scope] = decision_of(item, reply)
        return Admission(
            token,
            ip=decisions.get("ip"),
            claims=claims,
            subject=decisions.get("subject"),
            error=error,
            watched=watched,
        )


ADMISSION = "gateway.admission"
RATE_LIMIT = "gateway.rate_limit"  # the request's Decision, for the RateLimit-* headers
RATE_LIMITED = prometheus_client.Counter(
    "ratelimit_rejections_total", "Requests refused by a rate limit.", ["scope"]
)
_gatekeepers: dict[int, Gatekeeper] = {}  # by id(container.config): extensions see weak proxies


def gatekeeper_for(container: Any) -> Gatekeeper:
    """One Gatekeeper (one Redis client, one verified-token cache) per service container, shared
    by the edge server and the routes' authentication (gateway_http.specs)."""
    gatekeeper = _gatekeepers.get(id(container.config))
    if gatekeeper is None:
        config: dict[str, Any] = container.config
        gateway = config["GATEWAY"]
        gatekeeper = Gatekeeper(
            make_redis(config),
            VerifiedTokenCache(
                TokenCodec.from_config(config),
                int(gateway.get("TOKEN_CACHE_ENTRIES", DEFAULT_MAX_ENTRIES)),
            ),
            namespace="gateway",
            per_subject=str(gateway["RATE_LIMIT_PER_SUBJECT"]),
            per_ip=str(gateway["RATE_LIMIT_PER_IP"]),
            watched=(CAMPAIGN_LISTS_GENERATION,),  # gateway_http.campaign_lists
        )
        _gatekeepers[id(container.config)] = gatekeeper
    return gatekeeper
