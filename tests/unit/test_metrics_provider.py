from unittest import mock

import prometheus_client
from nameko.rpc import Rpc

from dependencies.metrics import Metrics
from services.common.errors import NotFound


def sample(name: str, **labels) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


CONTAINER = mock.Mock(service_name="metrics_test", config={"METRICS_PORT": 0})


def make_provider() -> Metrics:
    provider = Metrics().bind(CONTAINER, "metrics")  # extensions hold their container weakly
    provider.setup()
    return provider


def worker(method: str) -> mock.Mock:
    entrypoint = mock.Mock(spec=Rpc, method_name=method, expected_exceptions=NotFound)
    return mock.Mock(entrypoint=entrypoint)


def test_counts_outcomes_and_observes_duration():
    provider = make_provider()
    labels = dict(service="metrics_test", entrypoint="lookup", kind="rpc")
    before = {
        o: sample("nameko_entrypoint_calls_total", **labels, outcome=o)
        for o in ("success", "expected_error", "error")
    }
    observed_before = sample("nameko_entrypoint_duration_seconds_count", **labels)

    for exc in (None, NotFound("x"), RuntimeError("boom")):
        ctx = worker("lookup")
        provider.worker_setup(ctx)
        exc_info = None if exc is None else (type(exc), exc, None)
        provider.worker_result(ctx, None, exc_info)

    for outcome in ("success", "expected_error", "error"):
        assert (
            sample("nameko_entrypoint_calls_total", **labels, outcome=outcome)
            == before[outcome] + 1
        )
    assert sample("nameko_entrypoint_duration_seconds_count", **labels) == observed_before + 3
    assert provider.started_at == {}
