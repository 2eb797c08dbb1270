"""analytics_insert_failures_total counts inserts ClickHouse refused or could not take, not
other errors."""

import pytest
from clickhouse_driver.errors import NetworkError
from nameko.testing.services import worker_factory
from prometheus_client import REGISTRY

from services.analytics.service import AnalyticsService


def failures(table: str) -> float:
    return REGISTRY.get_sample_value("analytics_insert_failures_total", {"table": table}) or 0


def test_a_failed_clickhouse_insert_is_counted_by_table():
    service = worker_factory(AnalyticsService)

    def insert_funnel_event(client, fact):
        raise NetworkError("connection refused")

    def insert_deliverable_event(client, fact):
        raise KeyError("campaign_id")

    before = failures("funnel_event"), failures("deliverable_event")
    with pytest.raises(NetworkError):
        service._insert_fact(insert_funnel_event, {"campaign_id": "c"})
    with pytest.raises(KeyError):
        service._insert_fact(insert_deliverable_event, {"campaign_id": "c"})
    assert (failures("funnel_event"), failures("deliverable_event")) == (before[0] + 1, before[1])
