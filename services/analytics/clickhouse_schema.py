"""ClickHouse schema for analytics, as numbered migrations applied in order and recorded in
`<db>.schema_migrations`. Every statement is idempotent (IF NOT EXISTS), so a run interrupted
half-way is simply run again. The DDL stays within what ClickHouse 18.16 (Debian's package)
understands and current releases still accept: no LowCardinality, no DateTime64, no WITH FILL.
"""

from typing import Any

from clickhouse_driver import Client

from dependencies.clickhouse import database_of, make_client

EVENT_TYPES = (
    "impression",
    "click",
    "view",
    "like",
    "comment",
    "share",
    "save",
    "follow",
    "conversion",
)
FUNNEL_KINDS = (
    "campaign_published",
    "application_submitted",
    "application_accepted",
    "message_sent",
)
DELIVERABLE_KINDS = (
    "deliverable_submitted",
    "deliverable_approved",
    "deliverable_changes_requested",
)


def _enum(values: tuple[str, ...]) -> str:
    return "Enum8(" + ", ".join(f"'{v}' = {n}" for n, v in enumerate(values, start=1)) + ")"


EVENT_TYPE = _enum(EVENT_TYPES)

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "raw events, hourly rollup kept by a materialized view, funnel facts",
        [
            f"""CREATE TABLE IF NOT EXISTS {{db}}.events (
                event_id UUID,
                campaign_id UUID,
                creator_id UUID,
                event_type {EVENT_TYPE},
                ts DateTime('UTC'),
                platform String,
                value UInt64,
                country String,
                device String,
                received_at DateTime('UTC') DEFAULT now()
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(ts)
            ORDER BY (campaign_id, event_type, ts)""",
            f"""CREATE TABLE IF NOT EXISTS {{db}}.events_hourly (
                campaign_id UUID,
                event_type {EVENT_TYPE},
                hour DateTime('UTC'),
                creator_id UUID,
                platform String,
                events UInt64,
                value UInt64
            ) ENGINE = SummingMergeTree
            PARTITION BY toYYYYMM(hour)
            ORDER BY (campaign_id, event_type, hour, creator_id, platform)""",
            """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_hourly_mv
            TO {db}.events_hourly AS
            SELECT campaign_id, event_type, toStartOfHour(ts) AS hour, creator_id, platform,
                   count() AS events, sum(value) AS value
            FROM {db}.events
            GROUP BY campaign_id, event_type, hour, creator_id, platform""",
            f"""CREATE TABLE IF NOT EXISTS {{db}}.funnel_events (
                event_id UUID,
                kind {_enum(FUNNEL_KINDS)},
                campaign_id UUID,
                subject_id UUID,
                actor_id UUID,
                actor_role String,
                occurred_at DateTime('UTC')
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(occurred_at)
            ORDER BY (campaign_id, kind, event_id)""",
        ],
    ),
    (
        2,
        "deliverable facts (submissions and reviews) for the funnel",
        [
            f"""CREATE TABLE IF NOT EXISTS {{db}}.deliverable_events (
                event_id UUID,
                kind {_enum(DELIVERABLE_KINDS)},
                campaign_id UUID,
                deliverable_id UUID,
                creator_id UUID,
                revision UInt32,
                submitted_at DateTime('UTC'),
                occurred_at DateTime('UTC')
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(occurred_at)
            ORDER BY (campaign_id, kind, event_id)""",
        ],
    ),
]


def applied_versions(client: Client, database: str) -> set[int]:
    client.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, description String, applied_at DateTime('UTC') DEFAULT now()) "
        "ENGINE = TinyLog"
    )
    rows = client.execute(f"SELECT version FROM {database}.schema_migrations")  # noqa: S608
    return {row[0] for row in rows}


def migrate(url: str) -> list[int]:
    """Create the database if missing and apply pending migrations; return what was applied."""
    database = database_of(url)
    if not database.replace("_", "").isalnum():
        raise ValueError(f"unexpected ClickHouse database name {database!r}")
    client = make_client(url, database="default")
    try:
        client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        done = applied_versions(client, database)
        applied = []
        for version, description, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                client.execute(statement.format(db=database))
            client.execute(
                f"INSERT INTO {database}.schema_migrations (version, description) VALUES",
                [{"version": version, "description": description}],
            )
            applied.append(version)
        return applied
    finally:
        client.disconnect()


def drop(url: str) -> None:
    """Drop the whole database (tests and benchmarks use databases of their own)."""
    client: Any = make_client(url, database="default")
    try:
        client.execute(f"DROP DATABASE IF EXISTS {database_of(url)}")
    finally:
        client.disconnect()
