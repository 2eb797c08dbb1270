"""ClickHouse schema for analytics, as numbered migrations applied in order and recorded in
`<db>.schema_migrations`. Every statement is idempotent (IF NOT EXISTS), so a run interrupted
half-way is simply run again. The DDL stays within what ClickHouse 18.16 (Debian's package)
understands and current releases still accept: no LowCardinality, no DateTime64, no WITH FILL.

Two layouts, chosen by the cluster name (CLICKHOUSE_CLUSTER; docs/operations.md):
- none (local, CI, compose): each table is a plain MergeTree-family table on the one server.
- a cluster: every statement runs `ON CLUSTER <name>`; each table becomes a Replicated* table
  `<name>_local` on every server (replicated within its shard through ZooKeeper/Keeper, the
  `{shard}` and `{replica}` macros) and a Distributed table `<name>` over them. The code reads
  and writes the Distributed names, which are the plain layout's names, so no query changes.
  Rows are sharded by campaign (every read is one campaign's), so a campaign's rows and their
  duplicates meet on one shard, where ReplacingMergeTree can merge them. The rollup view runs on
  each server, from its local events into its local rollup.
"""

import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Table:
    """A table of the schema; `engine` is a MergeTree-family engine without arguments."""

    name: str
    columns: str
    engine: str
    partition_by: str
    order_by: str
    shard_by: str = "cityHash64(toString(campaign_id))"  # 18.16 hashes no UUID


@dataclass(frozen=True)
class View:
    """A materialized view writing `select` (reading `{source}`) into the table `target`."""

    name: str
    target: str
    source: str
    select: str


MIGRATIONS: list[tuple[int, str, list[Table | View]]] = [
    (
        1,
        "raw events, hourly rollup kept by a materialized view, funnel facts",
        [
            Table(
                "events",
                f"""event_id UUID,
                campaign_id UUID,
                creator_id UUID,
                event_type {EVENT_TYPE},
                ts DateTime('UTC'),
                platform String,
                value UInt64,
                country String,
                device String,
                received_at DateTime('UTC') DEFAULT now()""",
                "MergeTree",
                "toYYYYMM(ts)",
                "(campaign_id, event_type, ts)",
            ),
            Table(
                "events_hourly",
                f"""campaign_id UUID,
                event_type {EVENT_TYPE},
                hour DateTime('UTC'),
                creator_id UUID,
                platform String,
                events UInt64,
                value UInt64""",
                "SummingMergeTree",
                "toYYYYMM(hour)",
                "(campaign_id, event_type, hour, creator_id, platform)",
            ),
            View(
                "events_hourly_mv",
                target="events_hourly",
                source="events",
                select="""SELECT campaign_id, event_type, toStartOfHour(ts) AS hour, creator_id,
                   platform, count() AS events, sum(value) AS value
            FROM {source}
            GROUP BY campaign_id, event_type, hour, creator_id, platform""",
            ),
            Table(
                "funnel_events",
                f"""event_id UUID,
                kind {_enum(FUNNEL_KINDS)},
                campaign_id UUID,
                subject_id UUID,
                actor_id UUID,
                actor_role String,
                occurred_at DateTime('UTC')""",
                "ReplacingMergeTree",
                "toYYYYMM(occurred_at)",
                "(campaign_id, kind, event_id)",
            ),
        ],
    ),
    (
        2,
        "deliverable facts (submissions and reviews) for the funnel",
        [
            Table(
                "deliverable_events",
                f"""event_id UUID,
                kind {_enum(DELIVERABLE_KINDS)},
                campaign_id UUID,
                deliverable_id UUID,
                creator_id UUID,
                revision UInt32,
                submitted_at DateTime('UTC'),
                occurred_at DateTime('UTC')""",
                "ReplacingMergeTree",
                "toYYYYMM(occurred_at)",
                "(campaign_id, kind, event_id)",
            ),
        ],
    ),
]

LOCAL_SUFFIX = "_local"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def checked_name(kind: str, name: str) -> str:
    """Database and cluster names are spliced into DDL: plain identifiers only."""
    if not NAME.fullmatch(name):
        raise ValueError(f"unexpected ClickHouse {kind} name {name!r}")
    return name


def on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {checked_name('cluster', cluster)}" if cluster else ""


def table_ddl(table: Table, database: str, cluster: str | None = None) -> list[str]:
    layout = f"PARTITION BY {table.partition_by}\n            ORDER BY {table.order_by}"
    if not cluster:
        return [
            f"CREATE TABLE IF NOT EXISTS {database}.{table.name} (\n                "
            f"{table.columns}\n            ) ENGINE = {table.engine}\n            {layout}"
        ]
    local = table.name + LOCAL_SUFFIX
    # One replication group per shard and table; {shard} and {replica} are server macros.
    path = f"/clickhouse/tables/{{shard}}/{database}/{local}"
    return [
        f"CREATE TABLE IF NOT EXISTS {database}.{local}{on_cluster(cluster)} (\n                "
        f"{table.columns}\n            ) ENGINE = Replicated{table.engine}('{path}', "
        f"'{{replica}}')\n            {layout}",
        f"CREATE TABLE IF NOT EXISTS {database}.{table.name}{on_cluster(cluster)} "
        f"AS {database}.{local} ENGINE = Distributed({cluster}, {database}, {local}, "
        f"{table.shard_by})",
    ]


def view_ddl(view: View, database: str, cluster: str | None = None) -> list[str]:
    suffix = LOCAL_SUFFIX if cluster else ""
    select = view.select.format(source=f"{database}.{view.source}{suffix}")
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view.name}{on_cluster(cluster)}\n"
        f"            TO {database}.{view.target}{suffix} AS\n            {select}"
    ]


def statements(objects: list[Table | View], database: str, cluster: str | None = None) -> list[str]:
    """The DDL of one migration, for one server (no cluster) or every server of `cluster`."""
    checked_name("database", database)
    ddl: list[str] = []
    for item in objects:
        ddl += (
            table_ddl(item, database, cluster)
            if isinstance(item, Table)
            else view_ddl(item, database, cluster)
        )
    return ddl


def migrations_table_ddl(database: str, cluster: str | None = None) -> str:
    columns = "(version UInt32, description String, applied_at DateTime('UTC') DEFAULT now())"
    if not cluster:
        return f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations {columns} ENGINE = TinyLog"
    # One replication group for the whole cluster (no {shard} in the path): every server holds
    # every applied version, whichever server the migrate Job reaches next time.
    path = f"/clickhouse/{database}/schema_migrations"
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations{on_cluster(cluster)} {columns} "
        f"ENGINE = ReplicatedMergeTree('{path}', '{{replica}}') ORDER BY version"
    )


def applied_versions(client: Client, database: str, cluster: str | None = None) -> set[int]:
    client.execute(migrations_table_ddl(checked_name("database", database), cluster))
    rows = client.execute(f"SELECT version FROM {database}.schema_migrations")  # noqa: S608
    return {row[0] for row in rows}


def migrate(url: str, cluster: str | None = None) -> list[int]:
    """Create the database if missing and apply pending migrations (on every server of
    `cluster` when one is named); return what was applied."""
    database = checked_name("database", database_of(url))
    client = make_client(url, database="default")
    try:
        client.execute(f"CREATE DATABASE IF NOT EXISTS {database}{on_cluster(cluster)}")
        done = applied_versions(client, database, cluster)
        applied = []
        for version, description, objects in MIGRATIONS:
            if version in done:
                continue
            for statement in statements(objects, database, cluster):
                client.execute(statement)
            client.execute(
                f"INSERT INTO {database}.schema_migrations (version, description) VALUES",
                [{"version": version, "description": description}],
            )
            applied.append(version)
        return applied
    finally:
        client.disconnect()


def drop(url: str, cluster: str | None = None) -> None:
    """Drop the whole database (tests and benchmarks use databases of their own)."""
    client: Any = make_client(url, database="default")
    try:
        client.execute(f"DROP DATABASE IF EXISTS {database_of(url)}{on_cluster(cluster)}")
    finally:
        client.disconnect()
