"""Business and RPC metrics are scraped from each service process's own /metrics port."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_until
from tests.e2e.marketplace import apply, call, make_brand, make_creator, published_campaign


def process_metrics(running_stack, process: str) -> dict[tuple[str, tuple], float]:
    """Samples of every replica of `process` (`<name>`, `<name>-1`, ... at E2E_SCALE > 1), summed:
    a request lands on one replica, and the dashboards sum over them too."""
    ports = [
        p.env["METRICS_PORT"]
        for p in running_stack.stack.processes
        if p.name == process or p.name.removeprefix(f"{process}-").isdigit()
    ]
    totals: dict[tuple[str, tuple], float] = {}
    for port in ports:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def test_registrations_are_counted_once_per_created_account(api):
    key = ("users_registered_total", (("role", "creator"),))
    before = process_metrics(api, "auth").get(key, 0.0)
    body = {"email": "metrics@example.com", "password": "correct horse battery", "role": "creator"}

    first = requests.post(api.url("/api/v1/auth/register"), json=body, timeout=15)
    duplicate = requests.post(api.url("/api/v1/auth/register"), json=body, timeout=15)

    assert (first.status_code, duplicate.status_code) == (201, 409)
    after = process_metrics(api, "auth")
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
    before = process_metrics(api, "auth").get(key, 0.0)
    body = {"email": "relay@example.com", "password": "correct horse battery", "role": "brand"}
    assert requests.post(api.url("/api/v1/auth/register"), json=body, timeout=15).status_code == 201

    wait_until(lambda: process_metrics(api, "auth").get(key, 0.0) >= before + 1, timeout=15)
    pending = ("outbox_pending_events", (("service", "auth"),))
    wait_until(lambda: process_metrics(api, "auth").get(pending) == 0, timeout=15)


def test_marketplace_business_counters_count_what_was_committed(api):
    created = ("campaigns_created_total", ())
    published = ("campaign_status_changes_total", (("status", "published"),))
    submitted = ("applications_submitted_total", ())
    accepted = ("application_status_changes_total", (("status", "accepted"),))
    campaigns_before = process_metrics(api, "campaigns")
    applications_before = process_metrics(api, "applications")
    brand, creator = make_brand(api), make_creator(api)

    campaign = published_campaign(api, brand)
    republish = call(api, "POST", f"/api/v1/campaigns/{campaign['id']}/publish", brand)
    application = apply(api, creator, campaign["id"])
    again = apply(api, creator, campaign["id"])
    accept = call(api, "POST", f"/api/v1/applications/{application.json()['id']}/accept", brand)

    assert (republish.status_code, again.status_code, accept.status_code) == (409, 409, 200)
    campaigns_after = process_metrics(api, "campaigns")
    applications_after = process_metrics(api, "applications")
    for key, before, after in [
        (created, campaigns_before, campaigns_after),
        (published, campaigns_before, campaigns_after),
        (submitted, applications_before, applications_after),
        (accepted, applications_before, applications_after),
    ]:
        assert after[key] == before.get(key, 0.0) + 1, key


def analytics_totals(running_stack) -> dict[str, float]:
    """analytics_* samples of analytics and its writer (which counts what it inserted), summed
    over their labels."""
    totals: dict[str, float] = {}
    for process in ("analytics", "analytics_writer"):
        for (name, _), value in process_metrics(running_stack, process).items():
            if name.startswith("analytics_"):
                totals[name] = totals.get(name, 0.0) + value
    return totals


def test_the_dashboards_load_step_feeds_the_analytics_panels(api):
    """scripts/dashboards_check.py's marketplace and analytics steps, against this stack: the
    counter and the insert histogram the dashboards query move."""
    from scripts.dashboards_check import MARKETPLACE, ingest_analytics_events, run_marketplace

    before = analytics_totals(api)
    MARKETPLACE.clear()
    run_marketplace(api.base_url)
    ingest_analytics_events(api.base_url)
    MARKETPLACE.clear()
    wait_until(
        lambda: (
            analytics_totals(api).get("analytics_events_ingested_total", 0.0)
            >= before.get("analytics_events_ingested_total", 0.0) + 200
        ),
        timeout=20,
    )
    after = analytics_totals(api)
    assert after["analytics_insert_batch_duration_seconds_count"] > before.get(
        "analytics_insert_batch_duration_seconds_count", 0.0
    )
