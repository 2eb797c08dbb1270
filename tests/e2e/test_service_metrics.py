"""Business and RPC metrics are scraped from the auth process's own /metrics port."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_until


def auth_metrics(running_stack) -> dict[tuple[str, tuple], float]:
    port = next(p.env["METRICS_PORT"] for p in running_stack.stack.processes if p.name == "auth")
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_registrations_are_counted_once_per_created_account(api):
    key = ("users_registered_total", (("role", "creator"),))
    before = auth_metrics(api).get(key, 0.0)
    body = {"email": "metrics@example.com", "password": "correct horse battery", "role": "creator"}

    first = requests.post(api.url("/api/v1/auth/register"), json=body, timeout=15)
    duplicate = requests.post(api.url("/api/v1/auth/register"), json=body, timeout=15)

    assert (first.status_code, duplicate.status_code) == (201, 409)
    after = auth_metrics(api)
    assert after[key] == before + 1
    register_calls = (
        "nameko_entrypoint_calls_total",
        (
            ("entrypoint", "register"),
            ("kind", "rpc"),
            ("outcome", "expected_error"),
            ("service", "auth"),
        ),
    )
    assert after[register_calls] >= 1


def test_events_are_relayed_even_before_any_consumer_exists(api):
    """The e2e vhost is fresh and nothing consumes auth events: the relay must declare the
    exchange itself, or the outbox never drains (found by make dashboards-check)."""
    key = ("outbox_published_events_total", (("service", "auth"),))
    before = auth_metrics(api).get(key, 0.0)
    body = {"email": "relay@example.com", "password": "correct horse battery", "role": "brand"}
    assert requests.post(api.url("/api/v1/auth/register"), json=body, timeout=15).status_code == 201

    wait_until(lambda: auth_metrics(api).get(key, 0.0) >= before + 1, timeout=15)
    pending = ("outbox_pending_events", (("service", "auth"),))
    wait_until(lambda: auth_metrics(api).get(pending) == 0, timeout=15)


def analytics_metrics(running_stack) -> dict[str, float]:
    port = next(
        p.env["METRICS_PORT"] for p in running_stack.stack.processes if p.name == "analytics"
    )
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("analytics_"):
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def test_the_dashboards_load_step_feeds_the_analytics_panels(api):
    """scripts/dashboards_check.py's analytics step, against this stack: the counter and the
    insert histogram the dashboards query move."""
    from scripts.dashboards_check import ANALYTICS_CAMPAIGN, ingest_analytics_events

    before = analytics_metrics(api)
    ANALYTICS_CAMPAIGN.clear()
    ingest_analytics_events(api.base_url)
    ANALYTICS_CAMPAIGN.clear()
    wait_until(
        lambda: (
            analytics_metrics(api).get("analytics_events_ingested_total", 0.0)
            >= before.get("analytics_events_ingested_total", 0.0) + 200
        ),
        timeout=20,
    )
    after = analytics_metrics(api)
    assert after["analytics_insert_batch_duration_seconds_count"] > before.get(
        "analytics_insert_batch_duration_seconds_count", 0.0
    )
