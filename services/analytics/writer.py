"""analytics-writer: writes the ingestion queue (`analytics.ingest`) into ClickHouse, in batches,
de-duplicated (services/analytics/ingestion.py `write_events`). A process of its own: the
analytics process checks batches and queues them, this one only writes, so neither waits for the
other's CPU (docs/decisions.md "Analytics", durable hand-off)."""

from collections import Counter
from typing import Any

import prometheus_client
from nameko.dependency_providers import Config
from nameko.timer import timer

from dependencies.batch_consumer import batch_consumer
from dependencies.clickhouse import ClickHouse
from dependencies.health import HealthRpc
from dependencies.ingest_queue import INGEST_QUEUE_NAME, INGEST_QUEUE_OWNER
from dependencies.metrics import Metrics
from dependencies.postgres import Database
from dependencies.redis import Redis
from services.analytics import ingestion, reports
from services.analytics.warehouse import INSERT_FAILURES, clickhouse_failure

EVENTS_INGESTED = prometheus_client.Counter(
    "analytics_events_ingested_total",
    "Analytics events written to ClickHouse (duplicates not counted).",
    ["event_type"],
)
INSERT_BATCH_DURATION = prometheus_client.Histogram(
    "analytics_insert_batch_duration_seconds",
    "Time of one batched insert into ClickHouse's events table.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class AnalyticsWriter(HealthRpc):
    name = "analytics_writer"

    config = Config()
    db = Database()
    redis = Redis()
    clickhouse = ClickHouse()
    metrics = Metrics()

    @property
    def cache(self) -> reports.ReportCache:
        return reports.ReportCache.configured(self.redis, self.config)

    # The queue is analytics' (its dead letters go to analytics.dead-letter, as its publishers
    # declare it).
    @batch_consumer(
        INGEST_QUEUE_NAME, owner=INGEST_QUEUE_OWNER, count=lambda body: len(body["events"])
    )
    def store_events(self, bodies: list[dict[str, Any]], retry: bool) -> int:
        try:
            written = ingestion.write_events(
                self.db,
                self.clickhouse,
                [event for body in bodies for event in body["events"]],
                check_existing=retry,
                observe_insert=INSERT_BATCH_DURATION.observe,
            )
        except Exception as exc:
            if clickhouse_failure(exc):
                INSERT_FAILURES.labels("events").inc()
            raise
        for event_type, count in Counter(event["event_type"] for event in written).items():
            self.metrics.count_on_success(EVENTS_INGESTED.labels(event_type), count)
        self.cache.invalidate({str(event["campaign_id"]) for event in written})
        return len(written)

    @timer(interval=3600)
    def prune_seen_events(self) -> None:
        ingestion.prune_seen(self.db)
