"""The public campaign list served by the gateway straight from the campaigns service's Redis
cache, without an RPC and without a worker, when the page is cached: the list route's entrypoint
asks CampaignListReader.answer_at_edge before it spawns one (gateway_http.edge.Route).

The campaigns service owns the cache (services/campaigns/cache.py): it fills it on a miss and
bumps the generation on every campaign event (created, updated, status changed, deleted), so a
page is never served for a generation older than the last change. Reading the generation and the
page happen in one Lua script (one Redis round trip), so every gateway process sees a change as
soon as the service has bumped the generation; there is no per-process copy to go stale. A miss,
and anything that is not a plain public list (mine=true, admins, any invalid query), goes to the
service by RPC exactly as before, which answers errors and fills the cache.
"""

from typing import Any

import prometheus_client
import redis
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Request, Response

from dependencies.redis import make_redis
from gateway_http.admission import ADMISSION
from gateway_http.authn import Principal
from gateway_http.caller import query_params
from kernel.errors import DomainError
from kernel.schemas import parse_model
from services.campaigns.cache import GENERATION_KEY, KEY_PREFIX, query_digest
from services.campaigns.schemas import CampaignQuery

CACHED_LIST_READS = prometheus_client.Counter(
    "gateway_campaign_list_cache_total",
    "Public campaign list requests by where the gateway found the page (hit: Redis, no RPC).",
    ["result"],
)
CACHE_HITS, CACHE_MISSES = CACHED_LIST_READS.labels("hit"), CACHED_LIST_READS.labels("miss")

MAX_MEMO_PAGES = 1000
MAX_MEMO_QUERIES = 1000
SCRIPT = """
local generation = redis.call('get', KEYS[1]) or '0'
return redis.call('get', ARGV[1] .. generation .. ':' .. ARGV[2])
"""


def public_query(role: str, query: dict[str, Any]) -> dict[str, Any] | None:
    """The cache's key material for a public list query, or None when the service must answer
    (the same conditions as services.campaigns.campaigns.list_campaigns' cached branch)."""
    if role == "admin":
        return None
    try:
        params = parse_model(CampaignQuery, query)
    except DomainError:
        return None
    if params.mine or params.status not in (None, "published"):
        return None
    if (
        params.min_budget is not None
        and params.max_budget is not None
        and params.min_budget > params.max_budget
    ):
        return None
    return params.model_dump(mode="json")


def remember(memo: dict[Any, Any], key: Any, value: Any, bound: int) -> None:
    """memo[key] = value, dropping the oldest entry first when `bound` entries are there."""
    if len(memo) >= bound:
        del memo[next(iter(memo))]
    memo[key] = value


class CachedCampaignLists:
    """Pages are also kept in this process's memory for the generation they were stored under,
    so with the generation read in the request's admission round trip (gateway_http.admission
    watches GENERATION_KEY) a page already seen costs no Redis call at all. A page stored in Redis
    under a generation is what the service computed for it; a new generation empties the memo."""

    def __init__(self, client: redis.Redis, max_pages: int = MAX_MEMO_PAGES) -> None:
        self._client = client
        self._script = client.register_script(SCRIPT)
        self.max_pages = max_pages
        self._generation = ""
        self._pages: dict[str, bytes] = {}
        # query string -> its digest, or None when the service must answer: a pure function of
        # the query (validation included), so kept whatever the generation (bounded, oldest out)
        self._digests: dict[bytes, str | None] = {}

    def page_for_request(self, role: str, request: Request, generation: str | None) -> bytes | None:
        """The cached page's JSON for this caller's query string, or None (ask the service).
        `generation`: the current generation as read by the admission ("" when never bumped).
        Each distinct query string is validated and digested once per process."""
        if role == "admin":
            return None
        raw = request.query_string
        try:
            digest = self._digests[raw]
        except KeyError:
            key_material = public_query(role, query_params(request))
            digest = None if key_material is None else query_digest(key_material)
            remember(self._digests, raw, digest, MAX_MEMO_QUERIES)
        return None if digest is None else self._page(digest, generation)

    def _page(self, digest: str, generation: str | None) -> bytes | None:
        if generation is None:
            cached = self._script(keys=[GENERATION_KEY], args=[KEY_PREFIX, digest])
        else:
            if generation != self._generation:
                self._generation, self._pages = generation, {}
            cached = self._pages.get(digest)
            if cached is None:
                cached = self._client.get(f"{KEY_PREFIX}{generation or '0'}:{digest}")
                if cached is not None:
                    cached = cached.encode() if isinstance(cached, str) else cached
                    remember(self._pages, digest, cached, self.max_pages)
        (CACHE_MISSES if cached is None else CACHE_HITS).inc()
        if cached is None:
            return None
        return cached.encode() if isinstance(cached, str) else cached


class CampaignListReader(DependencyProvider):
    def setup(self) -> None:
        self.client = make_redis(self.container.config)
        self.lists = CachedCampaignLists(self.client)

    def stop(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx: WorkerContext) -> CachedCampaignLists:
        return self.lists

    def answer_at_edge(self, request: Request, principal: Principal | None) -> Response | None:
        """The cached page for the caller's query as the response, or None: the route's worker
        then asks the service (which answers errors and fills the cache)."""
        if principal is None:
            return None
        admission = request.environ.get(ADMISSION)
        generation = admission.watched.get(GENERATION_KEY) if admission is not None else None
        cached = self.lists.page_for_request(principal.role, request, generation)
        if cached is None:
            return None
        return Response(cached, content_type="application/json")
