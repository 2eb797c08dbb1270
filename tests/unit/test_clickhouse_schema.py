"""The ClickHouse DDL of both layouts (services/analytics/clickhouse_schema.py): plain tables on
one server without a cluster name; with one, Replicated local tables created ON CLUSTER and the
Distributed tables the code reads and writes in front of them."""

import inspect
import re
from unittest import mock

import pytest

from dependencies.clickhouse import ClickHouse
from services.analytics import clickhouse_schema, warehouse
from services.analytics.clickhouse_schema import MIGRATIONS, Table, View

CLUSTER = "analytics_cluster"
DB = "analytics"


def all_statements(cluster: str | None) -> list[str]:
    return [
        statement
        for _, _, objects in MIGRATIONS
        for statement in clickhouse_schema.statements(objects, DB, cluster)
    ]


def created(statements: list[str]) -> dict[str, str]:
    """{table or view name: its CREATE statement}"""
    found = {}
    for statement in statements:
        match = re.match(
            rf"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS {DB}\.(\w+)", statement
        )
        assert match, statement
        found[match.group(1)] = statement
    return found


def engine(statement: str) -> str:
    match = re.search(r"ENGINE = (\w+)", statement)
    assert match, statement
    return match.group(1)


def tables_the_code_uses() -> set[str]:
    source = inspect.getsource(warehouse)
    return set(re.findall(r"(?:FROM|INSERT INTO) (\w+)", source)) | {"events_hourly", "events"}


def test_the_code_reads_and_writes_tables_of_the_schema():
    names = {item.name for _, _, objects in MIGRATIONS for item in objects}
    assert tables_the_code_uses() <= names
    assert tables_the_code_uses() >= {"events", "events_hourly", "funnel_events"}


def test_without_a_cluster_every_table_is_a_plain_merge_tree_on_the_one_server():
    tables = created(all_statements(None))
    for statement in tables.values():
        assert "ON CLUSTER" not in statement
        assert "Replicated" not in statement and "Distributed" not in statement
    assert engine(tables["events"]) == "MergeTree"
    assert engine(tables["events_hourly"]) == "SummingMergeTree"
    assert engine(tables["funnel_events"]) == "ReplacingMergeTree"
    assert "FROM analytics.events\n" in tables["events_hourly_mv"]
    assert "TO analytics.events_hourly AS" in tables["events_hourly_mv"]
    assert "ENGINE = TinyLog" in clickhouse_schema.migrations_table_ddl(DB)


def test_the_plain_ddl_stays_within_clickhouse_18_16():
    # Debian's 18.16 runs the plain layout (local, CI); these arrived later.
    for statement in all_statements(None):
        for newer in ("LowCardinality", "DateTime64", "WITH FILL", "CODEC(", "TTL "):
            assert newer not in statement


def test_with_a_cluster_every_statement_runs_on_every_server():
    statements = all_statements(CLUSTER)
    assert statements
    for statement in statements:
        pattern = (
            rf"CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS {DB}\.\w+ ON CLUSTER {CLUSTER}\b"
        )
        assert re.match(pattern, statement), statement
    ddl = clickhouse_schema.migrations_table_ddl(DB, CLUSTER)
    assert f"{DB}.schema_migrations ON CLUSTER {CLUSTER} " in ddl


@pytest.mark.parametrize(
    "table",
    [item for _, _, o in MIGRATIONS for item in o if isinstance(item, Table)],
    ids=lambda t: t.name,
)
def test_with_a_cluster_the_code_uses_a_distributed_table_over_replicated_local_ones(table):
    tables = created(all_statements(CLUSTER))
    front, local = tables[table.name], tables[f"{table.name}_local"]
    assert engine(local) == f"Replicated{table.engine}"
    # one replication group per shard and table; the macros are set on each server
    assert f"('/clickhouse/tables/{{shard}}/{DB}/{table.name}_local', '{{replica}}')" in local
    assert engine(front) == "Distributed"
    assert (
        f"AS {DB}.{table.name}_local ENGINE = Distributed({CLUSTER}, {DB}, "
        f"{table.name}_local, cityHash64(toString(campaign_id)))" in front
    )
    plain = created(all_statements(None))[table.name]
    # same columns, order and partitions as the plain table
    assert plain.split("ENGINE")[0].split("(", 1)[1] == local.split("ENGINE")[0].split("(", 1)[1]
    assert plain.split("PARTITION BY")[1] == local.split("PARTITION BY")[1]


def test_every_table_the_code_names_is_distributed_in_a_cluster():
    tables = created(all_statements(CLUSTER))
    for name in tables_the_code_uses():
        assert engine(tables[name]) == "Distributed", name


def test_with_a_cluster_the_rollup_runs_on_each_server_from_local_to_local():
    view = created(all_statements(CLUSTER))["events_hourly_mv"]
    assert f"ON CLUSTER {CLUSTER}" in view
    assert "TO analytics.events_hourly_local AS" in view
    assert "FROM analytics.events_local\n" in view
    views = [item for _, _, objects in MIGRATIONS for item in objects if isinstance(item, View)]
    assert [view.name for view in views] == ["events_hourly_mv"]


def test_applied_versions_are_replicated_to_every_server_of_the_cluster():
    ddl = clickhouse_schema.migrations_table_ddl(DB, CLUSTER)
    # no {shard} in the path: one replication group across all shards
    assert f"ReplicatedMergeTree('/clickhouse/{DB}/schema_migrations', '{{replica}}')" in ddl


@pytest.mark.parametrize("name", ["main; DROP TABLE x", "a b", "1st", ""])
def test_names_spliced_into_ddl_are_plain_identifiers(name):
    objects = MIGRATIONS[0][2]
    if name:
        with pytest.raises(ValueError, match="cluster"):
            clickhouse_schema.statements(objects, DB, name)
    with pytest.raises(ValueError, match="database"):
        clickhouse_schema.statements(objects, name or "-", None)


def migrations_run(cluster: str | None) -> list[str]:
    client = mock.Mock()
    client.execute.side_effect = lambda query, *args: [] if query.startswith("SELECT") else None
    with mock.patch.object(clickhouse_schema, "make_client", return_value=client):
        assert clickhouse_schema.migrate(f"clickhouse://default@ch:9000/{DB}", cluster) == [1, 2]
    return [call.args[0] for call in client.execute.call_args_list]


def test_migrate_creates_the_database_on_the_cluster_or_the_server():
    assert migrations_run(None)[0] == f"CREATE DATABASE IF NOT EXISTS {DB}"
    clustered = migrations_run(CLUSTER)
    assert clustered[0] == f"CREATE DATABASE IF NOT EXISTS {DB} ON CLUSTER {CLUSTER}"
    assert set(all_statements(CLUSTER)) <= set(clustered)


@pytest.mark.parametrize(
    ("cluster", "settings"), [("", {}), (CLUSTER, {"insert_distributed_sync": 1})]
)
def test_inserts_into_distributed_tables_return_once_the_shards_have_the_rows(cluster, settings):
    container = mock.Mock(
        config={
            "CLICKHOUSE_URL": "clickhouse://default@ch:9000/analytics",
            "CLICKHOUSE_CLUSTER": cluster,
        }
    )
    provider = ClickHouse(pool_size=1).bind(container, "clickhouse")
    provider.setup()
    client = provider.get_dependency(mock.Mock())
    assert client.settings == settings
