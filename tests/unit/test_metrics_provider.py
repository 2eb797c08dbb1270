import datetime as dt
from unittest import mock

import prometheus_client
from nameko.events import EventHandler
from nameko.rpc import Rpc

from dependencies.metrics import Metrics, event_lag_seconds
from kernel.errors import NotFound


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


def test_business_counters_count_only_when_the_worker_succeeds():
    provider = make_provider()
    counter = prometheus_client.Counter("metrics_test_things_total", "test", ["kind"])
    for exc in (None, NotFound("x"), RuntimeError("boom")):
        ctx = worker("make_thing")
        provider.worker_setup(ctx)
        provider.get_dependency(ctx).count_on_success(counter.labels(kind="a"), 2)
        exc_info = None if exc is None else (type(exc), exc, None)
        provider.worker_result(ctx, None, exc_info)

    assert sample("metrics_test_things_total", kind="a") == 2
    assert provider.workers == {}


def event_worker(payload: object) -> mock.Mock:
    entrypoint = mock.Mock(
        spec=EventHandler,
        method_name="on_registered",
        expected_exceptions=(),
        source_service="auth",
        event_type="user_registered",
    )
    return mock.Mock(entrypoint=entrypoint, args=(payload,))


def test_event_handlers_observe_lag_from_occurred_at():
    provider = make_provider()
    labels = dict(service="metrics_test", source_service="auth", event_type="user_registered")
    count_before = sample("nameko_event_handler_lag_seconds_count", **labels)
    sum_before = sample("nameko_event_handler_lag_seconds_sum", **labels)
    occurred = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=42)

    for payload in ({"occurred_at": occurred.isoformat()}, {"no": "timestamp"}, "not a dict"):
        ctx = event_worker(payload)
        provider.worker_setup(ctx)
        provider.worker_result(ctx, None, None)

    assert sample("nameko_event_handler_lag_seconds_count", **labels) == count_before + 1
    assert 42 <= sample("nameko_event_handler_lag_seconds_sum", **labels) - sum_before < 60


def test_event_lag_is_never_negative_and_ignores_garbage():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    later = (now + dt.timedelta(seconds=5)).isoformat()
    assert event_lag_seconds({"occurred_at": later}, now) == 0.0
    assert event_lag_seconds({"occurred_at": "2025-12-31T23:59:50"}, now) == 10.0
    assert event_lag_seconds({"occurred_at": "yesterday"}, now) is None
    assert event_lag_seconds({"occurred_at": 12}, now) is None
