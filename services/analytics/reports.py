"""Campaign analytics for the owning brand or an admin: summary, time series, per-creator and
per-platform breakdowns. Answers are cached in Redis for a short while (REPORT_CACHE_SECONDS)
under the campaign's data generation, which every write of its events or funnel facts bumps: a
cached answer is never served after new data for its campaign landed. Access is checked on every
call, before the cache."""

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import prometheus_client
import redis
from clickhouse_driver import Client

from kernel.errors import Forbidden, NotFound
from kernel.schemas import Principal, parse_model
from services.analytics import figures, warehouse
from services.analytics.directory import CampaignDirectory, CampaignInfo
from services.analytics.schemas import AnalyticsQuery

log = logging.getLogger(__name__)

CACHE_PREFIX = "analytics:report:v2"
# Outlives every cached answer (REPORT_CACHE_SECONDS is seconds): an expired generation restarts
# at 0 only when no answer cached under an old one can still be read.
GENERATION_TTL_SECONDS = 86_400


def readable_campaign(
    directory: CampaignDirectory, principal: Principal, campaign_id: str
) -> CampaignInfo:
    campaign = directory.campaign(campaign_id)
    if campaign is None:
        raise NotFound("no such campaign")
    if principal.is_admin or (principal.role == "brand" and principal.user_id == campaign.brand_id):
        return campaign
    if campaign.status == "draft":  # drafts are invisible to others: do not confirm one exists
        raise NotFound("no such campaign")
    raise Forbidden("only the brand that owns this campaign sees its analytics")


CACHE_LOOKUPS = prometheus_client.Counter(
    "analytics_report_cache_total",
    "Report requests by whether the answer came from the Redis cache (hit) or ClickHouse (miss).",
    ["result"],
)


class ReportCache:
    def __init__(self, client: redis.Redis | None, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    @classmethod
    def configured(cls, client: redis.Redis | None, config: dict[str, Any]) -> "ReportCache":
        """The cache as ANALYTICS.REPORT_CACHE_SECONDS sets it (30 s unless said; 0: off)."""
        return cls(client, int(config.get("ANALYTICS", {}).get("REPORT_CACHE_SECONDS", 30)))

    def get_or_compute(
        self, kind: str, campaign_id: str, params: dict[str, Any], compute: Callable[[], Any]
    ) -> Any:
        if self.client is None or self.ttl_seconds <= 0:
            return compute()
        # The generation is read before computing: data landing meanwhile bumps it, so this
        # answer is stored under a generation nobody reads any more.
        generation = self.client.get(_generation_key(campaign_id)) or "0"
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
        key = f"{CACHE_PREFIX}:{campaign_id}:{generation}:{kind}:{digest.hexdigest()[:32]}"
        cached = self.client.get(key)
        if cached is not None:
            CACHE_LOOKUPS.labels("hit").inc()
            return json.loads(cached)
        CACHE_LOOKUPS.labels("miss").inc()
        result = compute()
        self.client.set(key, json.dumps(result, default=str), ex=self.ttl_seconds)
        return result

    def invalidate(self, campaign_ids: Iterable[str]) -> None:
        """New data for these campaigns has landed: their cached answers are out of date."""
        if self.client is None:
            return
        try:
            with self.client.pipeline(transaction=False) as pipeline:
                for campaign_id in set(campaign_ids):
                    pipeline.incr(_generation_key(campaign_id))
                    pipeline.expire(_generation_key(campaign_id), GENERATION_TTL_SECONDS)
                pipeline.execute()
        except redis.RedisError:
            # The data is stored; a cached answer then lives out its REPORT_CACHE_SECONDS.
            # Failing here would only redeliver a batch that is already written.
            log.warning("could not invalidate cached reports of %s", campaign_ids, exc_info=True)


def _generation_key(campaign_id: str) -> str:
    return f"{CACHE_PREFIX}:generation:{campaign_id}"


def _prepare(
    directory: CampaignDirectory, principal: Any, campaign_id: str, query: Any, now: dt.datetime
) -> tuple[CampaignInfo, AnalyticsQuery, dt.datetime, dt.datetime]:
    params = parse_model(AnalyticsQuery, query)  # bad input answers 422 before anything else
    campaign = readable_campaign(directory, parse_model(Principal, principal), campaign_id)
    figures.zone(params.tz)
    start, to = figures.resolve_range(params, now)
    return campaign, params, start, to


def _cache_params(params: AnalyticsQuery, start: dt.datetime, to: dt.datetime) -> dict[str, Any]:
    return {**params.model_dump(mode="json", by_alias=True), "from": start, "to": to}


@dataclass(frozen=True)
class Report:
    """What every report computes from: the readable campaign, the parsed query and its range."""

    directory: CampaignDirectory
    clickhouse: Client
    campaign: CampaignInfo
    params: AnalyticsQuery
    start: dt.datetime
    to: dt.datetime

    @property
    def campaign_id(self) -> str:
        return self.campaign.campaign_id

    def range(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.to.isoformat()}


def report(
    kind: str,
    directory: CampaignDirectory,
    clickhouse: Client,
    cache: ReportCache,
    principal: Any,
    campaign_id: str,
    query: Any,
    now: dt.datetime,
) -> dict[str, Any]:
    """The one pipeline of every report: parse the query (422), check access (404/403), then
    answer from the cache or compute and cache."""
    compute = REPORTS[kind]
    campaign, params, start, to = _prepare(directory, principal, campaign_id, query, now)
    inputs = Report(directory, clickhouse, campaign, params, start, to)
    return cache.get_or_compute(
        kind, campaign.campaign_id, _cache_params(params, start, to), lambda: compute(inputs)
    )


def _summary(report: Report) -> dict[str, Any]:
    clickhouse, campaign_id = report.clickhouse, report.campaign_id
    rollup = figures.hour_aligned(report.start, report.to)
    counts = warehouse.counts_by(clickhouse, campaign_id, report.start, report.to, rollup)
    spend = sum(report.directory.rates(campaign_id).values())
    applications, accepted, firsts = warehouse.funnel_inputs(clickhouse, campaign_id)
    return {
        "campaign_id": campaign_id,
        **report.range(),
        "currency": report.campaign.currency,
        **figures.summary(counts.get("", {}), spend),
        "funnel": figures.funnel(
            applications, accepted, firsts, warehouse.deliverable_inputs(clickhouse, campaign_id)
        ),
    }


def _timeseries(report: Report) -> dict[str, Any]:
    params, start, to = report.params, report.start, report.to
    tz = figures.zone(params.tz)
    rollup = figures.hour_aligned(start, to) and figures.whole_hour_offsets(tz, start, to)
    granules = warehouse.granule_counts(report.clickhouse, report.campaign_id, start, to, rollup)
    return {
        "campaign_id": report.campaign_id,
        "metric": params.metric,
        "interval": params.interval,
        "tz": params.tz,
        **report.range(),
        "points": figures.series(granules, start, to, tz, params.interval, params.metric),
    }


def _creators(report: Report) -> dict[str, Any]:
    """Every accepted creator (zeros included) and any other creator with events."""
    grouped = _counts_by(report, "creator_id")
    rates = report.directory.rates(report.campaign_id)
    items = [
        {
            "creator_id": creator_id,
            **figures.figures(grouped.get(creator_id, {})),
            "spend": rates.get(creator_id, 0),
            "accepted": creator_id in rates,
            "_sort": figures.metric_value(grouped.get(creator_id, {}), report.params.metric),
        }
        for creator_id in sorted(set(grouped) | set(rates))
    ]
    return _breakdown(report, items, "creator_id")


def _platforms(report: Report) -> dict[str, Any]:
    items = [
        {
            "platform": platform,
            **figures.figures(counts),
            "_sort": figures.metric_value(counts, report.params.metric),
        }
        for platform, counts in _counts_by(report, "platform").items()
    ]
    return _breakdown(report, items, "platform")


REPORTS: dict[str, Callable[[Report], dict[str, Any]]] = {
    "summary": _summary,
    "timeseries": _timeseries,
    "creators": _creators,
    "platforms": _platforms,
}


def _counts_by(report: Report, column: str) -> dict[str, dict[str, int]]:
    rollup = figures.hour_aligned(report.start, report.to)
    return warehouse.counts_by(
        report.clickhouse, report.campaign_id, report.start, report.to, rollup, column
    )


def _breakdown(report: Report, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    ordered = figures.sort_items(items, "_sort", key)
    for item in ordered:
        del item["_sort"]
    return {
        "campaign_id": report.campaign_id,
        **report.range(),
        "sort": report.params.metric,
        "items": ordered,
    }
