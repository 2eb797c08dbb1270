"""The cluster layout of the analytics schema on a real two-shard ClickHouse cluster with
ZooKeeper: `bash scripts/clickhouse_cluster.sh start` starts one on this machine (Debian's
ClickHouse 18.16 and ZooKeeper) and prints TEST_CLICKHOUSE_CLUSTER and
TEST_CLICKHOUSE_CLUSTER_URLS (one URL per server) for these tests; without them they skip."""

import datetime as dt
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from dependencies.clickhouse import cluster_settings, make_client
from services.analytics import clickhouse_schema, warehouse
from tests.conftest import wait_until

CLUSTER = os.environ.get("TEST_CLICKHOUSE_CLUSTER", "")
URLS = [url for url in os.environ.get("TEST_CLICKHOUSE_CLUSTER_URLS", "").split(",") if url]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (CLUSTER and len(URLS) >= 2),
        reason="no test cluster: bash scripts/clickhouse_cluster.sh start",
    ),
]
HOUR = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """The schema migrated ON CLUSTER; one client per server, as analytics builds them."""
    clickhouse_schema.drop(URLS[0], CLUSTER)
    assert clickhouse_schema.migrate(URLS[0], CLUSTER) == [1, 2]
    clients = [make_client(url, settings=cluster_settings(CLUSTER)) for url in URLS]
    yield clients
    for client in clients:
        client.disconnect()
    clickhouse_schema.drop(URLS[0], CLUSTER)


def events(campaign_id: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.uuid4()),
            "campaign_id": campaign_id,
            "creator_id": str(uuid.UUID(int=n % 3 + 1)),
            "event_type": ("impression", "click")[n % 2],
            "ts": (HOUR + dt.timedelta(seconds=n)).isoformat(),
            "platform": "instagram",
            "value": n % 5,
        }
        for n in range(count)
    ]


def test_every_server_has_the_tables_and_the_applied_versions(servers):
    for client in servers:
        engines = dict(
            client.execute(
                "SELECT name, engine FROM system.tables WHERE database = %(db)s",
                {"db": clickhouse_schema.database_of(URLS[0])},
            )
        )
        assert engines["events"] == "Distributed"
        assert engines["events_local"] == "ReplicatedMergeTree"
        assert engines["events_hourly_local"] == "ReplicatedSummingMergeTree"
        assert engines["funnel_events_local"] == "ReplicatedReplacingMergeTree"
        # written on the first server, replicated to all: a later run anywhere sees them
        wait_until(
            lambda client=client: (
                {row[0] for row in client.execute("SELECT version FROM schema_migrations")}
                == {1, 2}
            )
        )
    assert clickhouse_schema.migrate(URLS[-1], CLUSTER) == []


def test_rows_written_on_one_server_are_sharded_and_read_whole_from_any(servers):
    writer = servers[0]
    campaigns = [str(uuid.uuid4()) for _ in range(12)]
    written = {campaign: events(campaign, 50 + n) for n, campaign in enumerate(campaigns)}
    for batch in written.values():
        warehouse.insert_events(writer, batch)

    # synchronous Distributed inserts: every row is on its shard when insert_events returns
    local = [client.execute("SELECT count() FROM events_local")[0][0] for client in servers]
    assert sum(local) == sum(len(batch) for batch in written.values())
    assert all(local), "12 campaigns should not all hash to one shard"

    start, end = HOUR, HOUR + dt.timedelta(hours=1)
    for reader in servers:
        for campaign, batch in written.items():
            expected: Counter[str] = Counter(event["event_type"] for event in batch)
            for rollup in (False, True):
                counts = warehouse.counts_by(reader, campaign, start, end, rollup)[""]
                assert {kind: n for kind, (n, _) in counts.items()} == dict(expected)
        # the duplicate check of a redelivered batch sees rows on every shard
        batch = written[campaigns[3]]
        assert len(warehouse.existing_events(reader, batch)) == len(batch)


def test_a_campaigns_redelivered_fact_is_counted_once(servers):
    campaign = str(uuid.uuid4())
    fact = {
        "event_id": str(uuid.uuid4()),
        "kind": "application_submitted",
        "campaign_id": campaign,
        "subject_id": str(uuid.uuid4()),
        "actor_id": str(uuid.uuid4()),
        "actor_role": "creator",
        "occurred_at": HOUR.isoformat(),
    }
    warehouse.insert_funnel_event(servers[0], fact)
    warehouse.insert_funnel_event(servers[1], fact)
    assert warehouse.funnel_inputs(servers[1], campaign)[0] == 1
    # both copies went to the campaign's shard (where ReplacingMergeTree merges duplicates;
    # this identical block was even dropped by the replicated insert deduplication)
    holding = [c.execute("SELECT count() FROM funnel_events_local")[0][0] for c in servers]
    assert holding.count(0) == len(servers) - 1
