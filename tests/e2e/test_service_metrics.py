"""Business and RPC metrics are scraped from the auth process's own /metrics port."""

import requests
from prometheus_client.parser import text_string_to_metric_families


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
