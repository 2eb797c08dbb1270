"""Campaign figures from event counts: pure functions, no I/O.

Counts arrive as {event_type: (events, value)}. Definitions (docs/decisions.md, "Analytics"):
engagements = likes + comments + shares + saves; revenue = the values of conversions; spend = the
accepted creators' agreed rates; ratios are fractions, None where the denominator is zero.
"""

import datetime as dt
import statistics
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kernel.errors import InvalidInput
from services.analytics.schemas import TIME_ZONES, AnalyticsQuery

Counts = dict[str, tuple[int, int]]

ENGAGEMENT_TYPES = ("like", "comment", "share", "save")
PLURAL = {
    "impression": "impressions",
    "click": "clicks",
    "view": "views",
    "like": "likes",
    "comment": "comments",
    "share": "shares",
    "save": "saves",
    "follow": "follows",
    "conversion": "conversions",
}
DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_HOURLY_DAYS = 31
HOUR = dt.timedelta(hours=1)
QUARTER_HOUR = dt.timedelta(minutes=15)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def count_of(counts: Counts, event_type: str) -> int:
    return counts.get(event_type, (0, 0))[0]


def metric_value(counts: Counts, metric: str) -> int:
    if metric == "engagements":
        return sum(count_of(counts, t) for t in ENGAGEMENT_TYPES)
    if metric == "revenue":
        return counts.get("conversion", (0, 0))[1]
    singular = next(t for t, plural in PLURAL.items() if plural == metric)
    return count_of(counts, singular)


def figures(counts: Counts) -> dict[str, Any]:
    impressions = metric_value(counts, "impressions")
    clicks = metric_value(counts, "clicks")
    engagements = metric_value(counts, "engagements")
    return {
        "impressions": impressions,
        "clicks": clicks,
        "views": metric_value(counts, "views"),
        "engagements": engagements,
        "conversions": metric_value(counts, "conversions"),
        "revenue": metric_value(counts, "revenue"),
        "ctr": ratio(clicks, impressions),
        "engagement_rate": ratio(engagements, impressions),
    }


def spend_figures(counts: Counts, spend: int) -> dict[str, Any]:
    revenue = metric_value(counts, "revenue")
    return {
        "spend": spend,
        "cpm": ratio(spend * 1000, metric_value(counts, "impressions")),
        "cpc": ratio(spend, metric_value(counts, "clicks")),
        "cpe": ratio(spend, metric_value(counts, "engagements")),
        "roi": ratio(revenue - spend, spend),
    }


def summary(counts: Counts, spend: int) -> dict[str, Any]:
    per_type = {
        plural: count_of(counts, t)
        for t, plural in PLURAL.items()
        if plural in ("likes", "comments", "shares", "saves", "follows")
    }
    return {**figures(counts), **per_type, **spend_figures(counts, spend)}


def funnel(
    applications: int,
    accepted: int,
    first_messages: Iterable[tuple[str, str, dt.datetime]],
    deliverables: tuple[int, int, list[float]] = (0, 0, []),
) -> dict[str, Any]:
    """`first_messages`: (conversation_id, sender_role, first time that role wrote in it);
    `deliverables`: (submitted, approved, seconds each review took after its submission)."""
    submitted, approved, review_waits = deliverables
    by_conversation: dict[str, list[tuple[dt.datetime, str]]] = {}
    for conversation_id, role, at in first_messages:
        by_conversation.setdefault(conversation_id, []).append((at, role))
    waits = []
    for firsts in by_conversation.values():
        firsts.sort()
        opener_at, opener_role = firsts[0]
        replies = [at for at, role in firsts if role != opener_role]
        if replies:
            waits.append((min(replies) - opener_at).total_seconds())
    return {
        "applications": applications,
        "accepted": accepted,
        "acceptance_rate": ratio(accepted, applications),
        "conversations": len(by_conversation),
        "replied_conversations": len(waits),
        "median_first_reply_seconds": statistics.median(waits) if waits else None,
        "deliverables_submitted": submitted,
        "deliverables_approved": approved,
        "deliverable_reviews": len(review_waits),
        "median_review_seconds": statistics.median(review_waits) if review_waits else None,
    }


def sort_items(items: list[dict[str, Any]], metric: str, key: str) -> list[dict[str, Any]]:
    """Largest first by `metric`; ties by `key`, so the order is stable across calls."""
    return sorted(items, key=lambda item: (-item[metric], str(item[key])))


# Time ranges and buckets


def zone(name: str) -> ZoneInfo:
    try:
        if name not in TIME_ZONES:  # exactly the document's enum
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            "unknown time zone",
            [{"field": "tz", "message": f"{name!r} is not an IANA time zone", "code": "tz"}],
        ) from None


def resolve_range(query: AnalyticsQuery, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[from, to) in UTC. Defaults: to = the next whole hour, from = 30 days before to."""
    next_hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + HOUR
    to = query.to.astimezone(dt.UTC) if query.to else next_hour
    start = query.from_.astimezone(dt.UTC) if query.from_ else to - dt.timedelta(DEFAULT_DAYS)
    problems = []
    if start >= to:
        problems.append({"field": "from", "message": "must be before to", "code": "range"})
    elif to - start > dt.timedelta(MAX_DAYS):
        problems.append(
            {"field": "from", "message": f"range is limited to {MAX_DAYS} days", "code": "range"}
        )
    elif query.interval == "hour" and to - start > dt.timedelta(MAX_HOURLY_DAYS):
        problems.append(
            {
                "field": "interval",
                "message": f"hourly series cover at most {MAX_HOURLY_DAYS} days",
                "code": "range",
            }
        )
    if problems:
        raise InvalidInput("the date range is not valid", problems)
    return start, to


def hour_aligned(*moments: dt.datetime) -> bool:
    return all(m.minute == 0 and m.second == 0 and m.microsecond == 0 for m in moments)


def whole_hour_offsets(tz: ZoneInfo, start: dt.datetime, to: dt.datetime) -> bool:
    """True when the zone's UTC offset is whole hours all through the range (checked at every
    UTC midnight and both ends), so hourly rollup rows fall into exactly one local bucket."""
    moment = start
    while True:
        offset = moment.astimezone(tz).utcoffset() or dt.timedelta()
        if offset % HOUR:
            return False
        if moment >= to:
            return True
        moment = min(to, (moment + dt.timedelta(1)).replace(hour=0, minute=0, second=0))


def bucket_start(moment: dt.datetime, tz: ZoneInfo, interval: str) -> dt.datetime:
    """The UTC start of the local hour or day holding `moment`."""
    local = moment.astimezone(tz)
    if interval == "hour":
        floored = local.replace(minute=0, second=0, microsecond=0)
    else:
        floored = dt.datetime.combine(local.date(), dt.time(0), tzinfo=tz)
    return floored.astimezone(dt.UTC)


def bucket_starts(
    start: dt.datetime, to: dt.datetime, tz: ZoneInfo, interval: str
) -> list[dt.datetime]:
    """Every bucket overlapping [start, to), as UTC starts, in order."""
    starts = [bucket_start(start, tz, interval)]
    while True:
        if interval == "hour":
            following = bucket_start(starts[-1] + HOUR, tz, interval)
        else:
            local_day = starts[-1].astimezone(tz).date() + dt.timedelta(1)
            following = dt.datetime.combine(local_day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
        if following >= to:
            return starts
        starts.append(following)


def series(
    granules: Iterable[tuple[dt.datetime, str, int, int]],
    start: dt.datetime,
    to: dt.datetime,
    tz: ZoneInfo,
    interval: str,
    metric: str,
) -> list[dict[str, Any]]:
    """Zero-filled points from (granule start UTC, event_type, events, value) rows whose granules
    (hours or quarter hours) each lie inside one bucket."""
    per_bucket: dict[dt.datetime, Counts] = {b: {} for b in bucket_starts(start, to, tz, interval)}
    for granule, event_type, events, value in granules:
        counts = per_bucket.setdefault(bucket_start(granule, tz, interval), {})
        seen_events, seen_value = counts.get(event_type, (0, 0))
        counts[event_type] = (seen_events + events, seen_value + value)
    return [
        {"start": bucket.astimezone(tz).isoformat(), "value": metric_value(counts, metric)}
        for bucket, counts in sorted(per_bucket.items())
    ]
