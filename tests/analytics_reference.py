"""Generated analytics events and every figure computed from them in plain Python, written
independently of services/analytics/figures.py, to check what ClickHouse and the API answer."""

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

TYPES = ("impression", "click", "view", "like", "comment", "share", "save", "follow", "conversion")
WEIGHTS = (60, 8, 15, 7, 2, 2, 2, 1, 3)
PLATFORMS = ("instagram", "tiktok", "youtube")
ENGAGING = {"like", "comment", "share", "save"}
PLURALS = {
    "impressions": "impression",
    "clicks": "click",
    "views": "view",
    "likes": "like",
    "comments": "comment",
    "shares": "share",
    "saves": "save",
    "follows": "follow",
    "conversions": "conversion",
}


def generate(
    campaign_id: str,
    creators: list[str],
    count: int,
    now: dt.datetime,
    days: int = 20,
    seed: int = 7,
) -> list[dict]:
    """Events spread over the last `days` days (JSON form, as the API takes them)."""
    rng = random.Random(seed)
    types = rng.choices(TYPES, WEIGHTS, k=count)
    events = []
    for event_type in types:
        ts = now - dt.timedelta(seconds=rng.randrange(60, days * 86400))
        events.append(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "campaign_id": campaign_id,
                "creator_id": rng.choice(creators),
                "event_type": event_type,
                "ts": ts.replace(microsecond=0).isoformat(),
                "platform": rng.choice(PLATFORMS),
                "value": rng.randrange(100, 20000) if event_type == "conversion" else 0,
                "country": rng.choice(("DE", "AT", "CH")),
                "device": rng.choice(("mobile", "desktop")),
            }
        )
    return events


def _ts(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(event["ts"]).astimezone(dt.UTC)


def in_range(events: list[dict], start: dt.datetime, to: dt.datetime) -> list[dict]:
    return [e for e in events if start <= _ts(e) < to]


def _div(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def metric(events: list[dict], name: str) -> int:
    if name == "engagements":
        return sum(1 for e in events if e["event_type"] in ENGAGING)
    if name == "revenue":
        return sum(e["value"] for e in events if e["event_type"] == "conversion")
    return sum(1 for e in events if e["event_type"] == PLURALS[name])


def base_figures(events: list[dict]) -> dict:
    impressions = metric(events, "impressions")
    return {
        "impressions": impressions,
        "clicks": metric(events, "clicks"),
        "views": metric(events, "views"),
        "engagements": metric(events, "engagements"),
        "conversions": metric(events, "conversions"),
        "revenue": metric(events, "revenue"),
        "ctr": _div(metric(events, "clicks"), impressions),
        "engagement_rate": _div(metric(events, "engagements"), impressions),
    }


def summary(events: list[dict], start: dt.datetime, to: dt.datetime, spend: int) -> dict:
    chosen = in_range(events, start, to)
    figures = base_figures(chosen)
    counts = Counter(e["event_type"] for e in chosen)
    return {
        **figures,
        "likes": counts["like"],
        "comments": counts["comment"],
        "shares": counts["share"],
        "saves": counts["save"],
        "follows": counts["follow"],
        "spend": spend,
        "cpm": _div(spend * 1000, figures["impressions"]),
        "cpc": _div(spend, figures["clicks"]),
        "cpe": _div(spend, figures["engagements"]),
        "roi": _div(figures["revenue"] - spend, spend),
    }


def series(
    events: list[dict], start: dt.datetime, to: dt.datetime, tz: str, interval: str, name: str
) -> list[dict]:
    zone = ZoneInfo(tz)
    local_start = start.astimezone(zone)
    if interval == "day":
        buckets = []
        day = local_start.date()
        while True:
            begin = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            if begin.astimezone(dt.UTC) >= to:
                break
            buckets.append(begin)
            day += dt.timedelta(days=1)
    else:
        first = local_start.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        buckets = []
        moment = first
        while moment < to:
            buckets.append(moment.astimezone(zone))
            moment += dt.timedelta(hours=1)
    grouped = defaultdict(list)
    for event in in_range(events, start, to):
        local = _ts(event).astimezone(zone)
        if interval == "day":
            key = dt.datetime(local.year, local.month, local.day, tzinfo=zone)
        else:
            key = local.replace(minute=0, second=0, microsecond=0)
        grouped[key.astimezone(dt.UTC)].append(event)
    return [
        {"start": b.isoformat(), "value": metric(grouped.get(b.astimezone(dt.UTC), []), name)}
        for b in buckets
    ]


def breakdown(events: list[dict], start: dt.datetime, to: dt.datetime, key: str) -> dict:
    grouped = defaultdict(list)
    for event in in_range(events, start, to):
        grouped[event[key]].append(event)
    return {value: base_figures(chosen) for value, chosen in grouped.items()}


def close(actual: dict, expected: dict) -> list[str]:
    """Fields that differ (floats compared to 1e-9 relative)."""
    problems = []
    for name, want in expected.items():
        got = actual.get(name)
        if isinstance(want, float) and isinstance(got, float):
            if abs(got - want) > 1e-9 * max(1.0, abs(want)):
                problems.append(f"{name}: {got} != {want}")
        elif got != want:
            problems.append(f"{name}: {got!r} != {want!r}")
    return problems
