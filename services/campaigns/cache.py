"""Redis cache of public campaign lists. Keys embed a generation number; every campaign event
bumps the generation (campaigns.service consumes its own events), so a cached list is never
served after a change for longer than the event takes to arrive. A TTL bounds memory and covers
a lost invalidation."""

import hashlib
import json
from collections.abc import Callable
from typing import Any

import redis

GENERATION_KEY = "campaigns:lists:generation"
KEY_PREFIX = "campaigns:lists:"  # + generation + ":" + query_digest(query)
LIST_TTL_SECONDS = 300


def query_digest(query: dict[str, Any]) -> str:
    """Names one query (CampaignQuery.model_dump(mode="json")); gateway_http reads the same keys."""
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:32]


class CampaignListCache:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _key(self, generation: str, query: dict[str, Any]) -> str:
        return f"{KEY_PREFIX}{generation}:{query_digest(query)}"

    def get_or_compute(
        self, query: dict[str, Any], compute: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """The cached page for `query`, or compute and store it. Returns (page, was_cached)."""
        generation = self.client.get(GENERATION_KEY) or "0"
        key = self._key(generation, query)
        cached = self.client.get(key)
        if cached is not None:
            return json.loads(cached), True
        result = compute()
        self.client.set(key, json.dumps(result), ex=LIST_TTL_SECONDS)
        return result, False

    def invalidate(self) -> None:
        self.client.incr(GENERATION_KEY)
