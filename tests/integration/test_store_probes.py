"""`store_up{store}` (dependencies/metrics.py): a service probes exactly the stores its dependency
providers use, and a store that does not answer is reported down."""

import pytest

from dependencies.metrics import probe_answers, store_probes
from services.analytics.service import AnalyticsService
from services.users.service import UsersService

pytestmark = pytest.mark.integration


def test_each_store_a_service_uses_is_probed_and_answers(
    container_factory, service_config, clickhouse
):
    analytics = container_factory(AnalyticsService, service_config)
    analytics.start()
    probes = store_probes(analytics)
    assert set(probes) == {"postgresql", "redis", "clickhouse", "rabbitmq"}
    assert {store: probe_answers(probe) for store, probe in probes.items()} == dict.fromkeys(
        probes, True
    )
    users = container_factory(UsersService, service_config)
    users.start()
    assert set(store_probes(users)) == {"postgresql", "rabbitmq"}  # Redis: the Caller's own


def test_a_store_that_does_not_answer_is_down(container_factory, service_config, clickhouse):
    config = {
        **service_config,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    analytics = container_factory(AnalyticsService, config)
    analytics.start()
    probes = store_probes(analytics)
    assert probe_answers(probes["postgresql"], timeout=5) is False
    assert probe_answers(probes["redis"], timeout=5) is False
    assert probe_answers(probes["clickhouse"], timeout=5) is True
    assert probe_answers(probes["rabbitmq"], timeout=5) is True
