"""Prometheus metrics for Nameko entrypoints: calls by outcome and a duration histogram.

Every process exposes its registry on /metrics: services through a small HTTP server started on
METRICS_PORT (0 disables it, as in tests), the gateway through its own /metrics route.
"""

import threading
import time
from typing import Any

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


class Metrics(DependencyProvider):
    def __init__(self) -> None:
        self.started_at: dict[WorkerContext, float] = {}

    def setup(self) -> None:
        config = self.container.config
        serve_metrics(
            int(config.get("METRICS_PORT") or 0), str(config.get("METRICS_HOST", "127.0.0.1"))
        )

    def get_dependency(self, worker_ctx: WorkerContext) -> None:
        return None

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        self.started_at[worker_ctx] = time.perf_counter()

    def worker_result(
        self, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None
    ) -> None:
        started = self.started_at.pop(worker_ctx, None)
        labels = (
            self.container.service_name,
            worker_ctx.entrypoint.method_name,
            entrypoint_kind(worker_ctx),
        )
        ENTRYPOINT_CALLS.labels(*labels, classify_outcome(worker_ctx, exc_info)).inc()
        if started is not None:
            ENTRYPOINT_DURATION.labels(*labels).observe(time.perf_counter() - started)
