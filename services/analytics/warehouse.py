"""ClickHouse reads and writes for analytics. The client is connected to the analytics database.

Reads take the hourly rollup (`events_hourly`, summed at query time because SummingMergeTree
collapses rows only eventually) when the range starts and ends on whole hours, else the raw
`events` table; both give the same figures for the same range.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import prometheus_client
from clickhouse_driver import Client

from services.analytics.figures import Counts

INSERT_FAILURES = prometheus_client.Counter(
    "analytics_insert_failures_total",
    "Inserts into ClickHouse that failed (the batch or event is retried), by table.",
    ["table"],
)


def clickhouse_failure(exc: BaseException) -> bool:
    """Raised by clickhouse-driver (server errors, its network errors) or the socket under it;
    not the PostgreSQL claims."""
    return type(exc).__module__.startswith("clickhouse_driver") or isinstance(
        exc, OSError | EOFError
    )


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _as_is(value: Any) -> Any:
    return value


EVENT_COLUMNS = (
    "event_id",
    "campaign_id",
    "creator_id",
    "event_type",
    "ts",
    "platform",
    "value",
    "country",
    "device",
)


def event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    """A validated event (JSON form, as queued) -> a row for the events table."""
    return (
        uuid.UUID(event["event_id"]),
        uuid.UUID(event["campaign_id"]),
        uuid.UUID(event["creator_id"]),
        event["event_type"],
        _utc(event["ts"]),
        event["platform"],
        event["value"],
        event.get("country") or "",
        event.get("device") or "",
    )


def insert_events(client: Client, events: Sequence[dict[str, Any]]) -> None:
    client.execute(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES",
        [event_row(event) for event in events],
    )


def event_columns(events: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Validated events (JSON form, as queued) -> the events table's columns, as
    `insert_event_columns` sends them: what `event_row` gives, with ts as its Unix time (the
    column holds whole seconds; the driver takes integers as they are) and each distinct
    campaign and creator id parsed once."""
    ids: dict[str, uuid.UUID] = {}

    def parsed(value: str) -> uuid.UUID:
        found = ids.get(value)
        if found is None:
            found = ids[value] = uuid.UUID(value)
        return found

    from_text = dt.datetime.fromisoformat
    return [
        [uuid.UUID(event["event_id"]) for event in events],
        [parsed(event["campaign_id"]) for event in events],
        [parsed(event["creator_id"]) for event in events],
        [event["event_type"] for event in events],
        [int(from_text(event["ts"]).timestamp()) for event in events],
        [event["platform"] for event in events],
        [event["value"] for event in events],
        [event.get("country") or "" for event in events],
        [event.get("device") or "" for event in events],
    ]


def insert_event_columns(client: Client, events: Sequence[dict[str, Any]]) -> None:
    """`insert_events`, column by column: the driver then converts each column in one loop
    instead of transposing rows (the ingestion writer's insert)."""
    client.execute(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES",
        event_columns(events),
        columnar=True,
    )


# Ids per lookup query: 2,000 quoted UUIDs stay well under ClickHouse's max_query_size (256 KiB).
LOOKUP_CHUNK = 2000


def existing_events(client: Client, events: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """Which of these events are already stored, as (campaign_id, event_id). The campaign and
    time bounds let ClickHouse use the primary key instead of scanning the table for the ids."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(events), LOOKUP_CHUNK):
        rows = [event_row(event) for event in events[start : start + LOOKUP_CHUNK]]
        found.update(
            (campaign_id, event_id)
            for campaign_id, event_id in client.execute(
                "SELECT toString(campaign_id), toString(event_id) FROM events "
                "WHERE campaign_id IN %(campaigns)s "
                "AND ts >= toDateTime(%(start)s, 'UTC') AND ts <= toDateTime(%(end)s, 'UTC') "
                "AND event_id IN %(ids)s",
                {
                    "campaigns": tuple({str(row[1]) for row in rows}),
                    "start": int(min(row[4] for row in rows).timestamp()),
                    "end": int(max(row[4] for row in rows).timestamp()),
                    "ids": tuple({str(row[0]) for row in rows}),
                },
            )
        )
    return found


def _source(start: dt.datetime, to: dt.datetime, rollup: bool) -> tuple[str, str, str]:
    """(table, time column, event count expression)"""
    return ("events_hourly", "hour", "sum(events)") if rollup else ("events", "ts", "count()")


def _range_params(campaign_id: str, start: dt.datetime, to: dt.datetime) -> dict[str, Any]:
    return {"campaign": campaign_id, "start": int(start.timestamp()), "to": int(to.timestamp())}


def _where(time_column: str) -> str:
    return (
        f"campaign_id = toUUID(%(campaign)s) AND {time_column} >= toDateTime(%(start)s, 'UTC') "
        f"AND {time_column} < toDateTime(%(to)s, 'UTC')"
    )


def counts_by(
    client: Client,
    campaign_id: str,
    start: dt.datetime,
    to: dt.datetime,
    rollup: bool,
    key: str | None = None,
) -> dict[str, Counts]:
    """{key value: counts}; key is None (one group, ""), "creator_id" or "platform"."""
    table, time_column, measure = _source(start, to, rollup)
    key_expr = "toString(creator_id)" if key == "creator_id" else (key or "''")
    # Table, columns and expressions come from the fixed choices above, never from input.
    select = f"SELECT {key_expr} AS k, event_type, {measure}, sum(value) FROM {table} "  # noqa: S608
    rows = client.execute(
        select + f"WHERE {_where(time_column)} GROUP BY k, event_type",
        _range_params(campaign_id, start, to),
    )
    grouped: dict[str, Counts] = {}
    for group, event_type, events, value in rows:
        grouped.setdefault(group, {})[event_type] = (int(events), int(value))
    return grouped


def granule_counts(
    client: Client, campaign_id: str, start: dt.datetime, to: dt.datetime, rollup: bool
) -> list[tuple[dt.datetime, str, int, int]]:
    """Counts per hour (rollup) or per quarter hour (raw events, for ranges or zones that do
    not fall on whole hours): fine enough for every zone's local hours and days."""
    table, time_column, measure = _source(start, to, rollup)
    granule = "hour" if rollup else "intDiv(toUInt32(ts), 900) * 900"
    select = f"SELECT toUInt32({granule}) AS g, event_type, {measure}, sum(value) FROM {table} "  # noqa: S608
    rows = client.execute(
        select + f"WHERE {_where(time_column)} GROUP BY g, event_type",
        _range_params(campaign_id, start, to),
    )
    return [
        (dt.datetime.fromtimestamp(g, dt.UTC), event_type, int(events), int(value))
        for g, event_type, events, value in rows
    ]


# A fact table's columns, each with what turns the fact's JSON value into the column's.
FUNNEL_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "event_id": uuid.UUID,
    "kind": _as_is,
    "campaign_id": uuid.UUID,
    "subject_id": uuid.UUID,
    "actor_id": uuid.UUID,
    "actor_role": _as_is,
    "occurred_at": _utc,
}
DELIVERABLE_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "event_id": uuid.UUID,
    "kind": _as_is,
    "campaign_id": uuid.UUID,
    "deliverable_id": uuid.UUID,
    "creator_id": uuid.UUID,
    "revision": int,
    "submitted_at": _utc,
    "occurred_at": _utc,
}


def _insert_fact(
    client: Client, table: str, columns: dict[str, Callable[[Any], Any]], fact: dict[str, Any]
) -> None:
    client.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
        [tuple(convert(fact[name]) for name, convert in columns.items())],
    )


def insert_funnel_event(client: Client, fact: dict[str, Any]) -> None:
    _insert_fact(client, "funnel_events", FUNNEL_COLUMNS, fact)


def funnel_inputs(
    client: Client, campaign_id: str
) -> tuple[int, int, list[tuple[str, str, dt.datetime]]]:
    """(applications, accepted, first message per conversation and sender role). A redelivered
    domain event may be stored twice until ReplacingMergeTree merges: ids are counted once."""
    counts = dict(
        client.execute(
            "SELECT kind, uniqExact(subject_id) FROM funnel_events "
            "WHERE campaign_id = toUUID(%(campaign)s) "
            "AND kind IN ('application_submitted', 'application_accepted') GROUP BY kind",
            {"campaign": campaign_id},
        )
    )
    firsts = client.execute(
        "SELECT toString(subject_id), actor_role, toUInt32(min(occurred_at)) FROM funnel_events "
        "WHERE campaign_id = toUUID(%(campaign)s) AND kind = 'message_sent' "
        "GROUP BY subject_id, actor_role",
        {"campaign": campaign_id},
    )
    return (
        int(counts.get("application_submitted", 0)),
        int(counts.get("application_accepted", 0)),
        [(c, role, dt.datetime.fromtimestamp(at, dt.UTC)) for c, role, at in firsts],
    )


def insert_deliverable_event(client: Client, fact: dict[str, Any]) -> None:
    _insert_fact(client, "deliverable_events", DELIVERABLE_COLUMNS, fact)


def deliverable_inputs(client: Client, campaign_id: str) -> tuple[int, int, list[float]]:
    """(deliverables submitted, deliverables approved, seconds from submission to review for
    each review). Ids are counted once, as in funnel_inputs."""
    counts = dict(
        client.execute(
            "SELECT kind, uniqExact(deliverable_id) FROM deliverable_events "
            "WHERE campaign_id = toUUID(%(campaign)s) "
            "AND kind IN ('deliverable_submitted', 'deliverable_approved') GROUP BY kind",
            {"campaign": campaign_id},
        )
    )
    reviews = client.execute(
        "SELECT any(toInt64(toUInt32(occurred_at)) - toInt64(toUInt32(submitted_at))) "
        "FROM deliverable_events WHERE campaign_id = toUUID(%(campaign)s) "
        "AND kind IN ('deliverable_approved', 'deliverable_changes_requested') GROUP BY event_id",
        {"campaign": campaign_id},
    )
    return (
        int(counts.get("deliverable_submitted", 0)),
        int(counts.get("deliverable_approved", 0)),
        [float(max(0, seconds)) for (seconds,) in reviews],
    )
