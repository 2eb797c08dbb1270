"""Prometheus metrics for Nameko entrypoints: calls by outcome, a duration histogram, and for
event handlers the lag between an event happening and its handler starting; and `store_up{store}`:
every STORE_PROBE_SECONDS each service asks the stores its dependency providers use (PostgreSQL,
Redis, ClickHouse) and RabbitMQ for a trivial answer (the "store down" alerts).

Every process exposes its registry on /metrics: services through a small HTTP server started on
METRICS_PORT (0 disables it, as in tests), the gateway through its own /metrics route.
"""

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import eventlet
import prometheus_client
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

ENTRYPOINT_CALLS = prometheus_client.Counter(
    "nameko_entrypoint_calls_total",
    "Entrypoint invocations by outcome (success, expected_error, error).",
    ["service", "entrypoint", "kind", "outcome"],
)
ENTRYPOINT_DURATION = prometheus_client.Histogram(
    "nameko_entrypoint_duration_seconds",
    "Time spent in an entrypoint, from worker start to result.",
    ["service", "entrypoint", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

EVENT_HANDLER_LAG = prometheus_client.Histogram(
    "nameko_event_handler_lag_seconds",
    "From the event's occurred_at to its handler starting in this service.",
    ["service", "source_service", "event_type"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

STORE_UP = prometheus_client.Gauge(
    "store_up",
    "1 if this process's last probe of the store answered (within STORE_PROBE_TIMEOUT_SECONDS).",
    ["store"],
)
STORE_PROBE_SECONDS = 15.0
STORE_PROBE_TIMEOUT_SECONDS = 5.0

_server_lock = threading.Lock()
_server_started_on: int | None = None


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Start the process-wide /metrics server once; later calls are no-ops."""
    global _server_started_on
    with _server_lock:
        if _server_started_on is None and port:
            prometheus_client.start_http_server(port, addr=host)
            _server_started_on = port


def entrypoint_kind(worker_ctx: WorkerContext) -> str:
    name = worker_ctx.entrypoint.__class__.__name__.lower()
    for kind in ("rpc", "event", "timer", "http"):
        if kind in name:
            return kind
    return name


def classify_outcome(worker_ctx: WorkerContext, exc_info: Any) -> str:
    if exc_info is None:
        return "success"
    if isinstance(exc_info[1], worker_ctx.entrypoint.expected_exceptions):
        return "expected_error"
    return "error"


def event_lag_seconds(payload: Any, now: dt.datetime | None = None) -> float | None:
    """Seconds since the event's `occurred_at` (ISO 8601, added by record_event); None when the
    payload carries no parseable timestamp. Negative clock skew counts as zero."""
    occurred_at = payload.get("occurred_at") if isinstance(payload, dict) else None
    if not isinstance(occurred_at, str):
        return None
    try:
        occurred = dt.datetime.fromisoformat(occurred_at)
    except ValueError:
        return None
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)
    elapsed = ((now or dt.datetime.now(dt.UTC)) - occurred).total_seconds()
    return max(elapsed, 0.0)


class WorkerMetrics:
    """What an entrypoint gets as `self.metrics`: business counters that count only if the
    worker succeeds (after the database commit), e.g.
    `self.metrics.count_on_success(USERS_REGISTERED.labels(role="brand"))`."""

    def __init__(self) -> None:
        self.on_success: list[Callable[[], None]] = []

    def count_on_success(self, counter: Any, amount: float = 1) -> None:
        self.on_success.append(lambda: counter.inc(amount))


class Metrics(DependencyProvider):
    def __init__(self) -> None:
        self.started_at: dict[WorkerContext, float] = {}
        self.workers: dict[WorkerContext, WorkerMetrics] = {}

    def setup(self) -> None:
        config = self.container.config
        serve_metrics(
            int(config.get("METRICS_PORT") or 0), str(config.get("METRICS_HOST", "127.0.0.1"))
        )

    def start(self) -> None:
        if int(self.container.config.get("METRICS_PORT") or 0):
            self.container.spawn_managed_thread(self._probe_stores, identifier="store_probe")

    def _probe_stores(self) -> None:
        probes = store_probes(self.container)
        while True:
            for store, probe in probes.items():
                STORE_UP.labels(store).set(1 if probe_answers(probe) else 0)
            eventlet.sleep(STORE_PROBE_SECONDS)

    def get_dependency(self, worker_ctx: WorkerContext) -> WorkerMetrics:
        return self.workers.setdefault(worker_ctx, WorkerMetrics())

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        self.started_at[worker_ctx] = time.perf_counter()
        if entrypoint_kind(worker_ctx) == "event" and worker_ctx.args:
            lag = event_lag_seconds(worker_ctx.args[0])
            if lag is not None:
                entrypoint = worker_ctx.entrypoint
                EVENT_HANDLER_LAG.labels(
                    self.container.service_name,
                    getattr(entrypoint, "source_service", ""),
                    getattr(entrypoint, "event_type", ""),
                ).observe(lag)

    def worker_result(
        self, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None
    ) -> None:
        started = self.started_at.pop(worker_ctx, None)
        worker = self.workers.pop(worker_ctx, None)
        outcome = classify_outcome(worker_ctx, exc_info)
        if worker is not None and outcome == "success":
            for count in worker.on_success:
                count()
        labels = (
            self.container.service_name,
            worker_ctx.entrypoint.method_name,
            entrypoint_kind(worker_ctx),
        )
        ENTRYPOINT_CALLS.labels(*labels, outcome).inc()
        if started is not None:
            ENTRYPOINT_DURATION.labels(*labels).observe(time.perf_counter() - started)


def probe_answers(probe: Callable[[], Any], timeout: float = STORE_PROBE_TIMEOUT_SECONDS) -> bool:
    try:
        with eventlet.Timeout(timeout):
            probe()
        return True
    except (Exception, eventlet.Timeout):
        return False


def store_probes(container: Any) -> dict[str, Callable[[], Any]]:
    """One probe per store the container's dependency providers use, and RabbitMQ."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from dependencies import clickhouse, postgres
    from dependencies.health import broker_reachable
    from dependencies.redis import Redis

    config = container.config
    probes: dict[str, Callable[[], Any]] = {}
    for provider in container.dependencies:
        # Own connections, not the workers' pools: a busy pool is not a store down.
        if isinstance(provider, postgres.Database):
            url = postgres.sqlalchemy_url(config["DATABASE_URL"])
            engine = create_engine(url, poolclass=NullPool)
            probes["postgresql"] = lambda engine=engine: postgres.ping(engine)
        elif isinstance(provider, Redis) and provider.client is not None:
            probes["redis"] = provider.client.ping
        elif isinstance(provider, clickhouse.ClickHouse):
            probes["clickhouse"] = lambda url=config["CLICKHOUSE_URL"]: _ping_clickhouse(url)
    amqp_uri = config.get("AMQP_URI")
    if amqp_uri:

        def broker() -> None:
            ok, detail = broker_reachable(amqp_uri)
            if not ok:
                raise ConnectionError(detail)

        probes["rabbitmq"] = broker
    return probes


def _ping_clickhouse(url: str) -> None:
    from dependencies.clickhouse import make_client, ping

    client = make_client(url)
    try:
        ping(client)
    finally:
        client.disconnect()
