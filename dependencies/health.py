"""A per-process health port for Nameko services (HEALTH_PORT; 0, the default, turns it off).

Kubernetes probes and compose healthchecks ask the pod itself, over HTTP, instead of spawning a
Python process that sends a health RPC any replica may answer:

  GET /healthz  200 while the process's eventlet hub serves requests (liveness: a wedged
                process stops answering)
  GET /readyz   200 when this container has started, every one of its AMQP consumers is
                consuming, and its broker account can open a connection; 503 with the failing
                check otherwise (readiness)
"""

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import eventlet
from eventlet import wsgi
from kombu import Connection
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from nameko.rpc import rpc

from dependencies.batch_consumer import BatchConsumer
from dependencies.request_context import RequestContext

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def consumers_ready(extensions: Iterable[Any]) -> tuple[bool, str]:
    """Every nameko QueueConsumer of the container has started consuming and is still running,
    and every batch consumer (dependencies/batch_consumer.py) is consuming."""
    extensions = list(extensions)
    if any(isinstance(ext, BatchConsumer) and not ext.consuming for ext in extensions):
        return False, "batch consumer not consuming"
    consumers = [ext for ext in extensions if isinstance(ext, QueueConsumer)]
    for consumer in consumers:
        if not consumer._consumers_ready.ready():  # nameko has no public flag
            return False, "consumers starting"
        thread = consumer._gt
        if thread is None or thread.dead:
            return False, "consumer stopped"
    return True, "ok"


def broker_reachable(amqp_uri: str) -> tuple[bool, str]:
    try:
        with Connection(amqp_uri, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        return False, f"unreachable: {type(exc).__name__}"
    return True, "ok"


def health_app(checks: Callable[[], dict[str, tuple[bool, str]]]) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            status, body = "200 OK", {"status": "ok"}
        elif path == "/readyz":
            results = checks()
            ready = all(ok for ok, _ in results.values())
            status = "200 OK" if ready else "503 Service Unavailable"
            body = {
                "status": "ok" if ready else "unavailable",
                "checks": {name: detail for name, (_, detail) in results.items()},
            }
        else:
            status, body = "404 Not Found", {"status": "not found"}
        payload = json.dumps(body).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    return app


class HealthServer(DependencyProvider):
    """Serves /healthz and /readyz on HEALTH_PORT (HEALTH_HOST, default METRICS_HOST)."""

    def __init__(self) -> None:
        self.listener: Any = None
        self.server: Any = None

    def setup(self) -> None:
        config = self.container.config
        port = int(config.get("HEALTH_PORT") or 0)
        if not port:
            return
        host = str(config.get("HEALTH_HOST") or config.get("METRICS_HOST") or "127.0.0.1")
        self.listener = eventlet.listen((host, port))

    def start(self) -> None:
        if self.listener is None:
            return
        app = health_app(self.checks)
        self.server = self.container.spawn_managed_thread(
            lambda: wsgi.server(self.listener, app, log_output=False, debug=False),
            identifier="health_server",
        )

    def checks(self) -> dict[str, tuple[bool, str]]:
        consumers = consumers_ready(self.container.extensions)
        if not self.container.started:
            consumers = (False, "container starting")
        return {
            "consumers": consumers,
            "rabbitmq": broker_reachable(self.container.config["AMQP_URI"]),
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server = None
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: WorkerContext) -> None:
        return None


class HealthRpc:
    name: str
    request_context = RequestContext()
    health_server = HealthServer()  # the pod's /healthz and /readyz on HEALTH_PORT

    @rpc
    def health(self) -> dict[str, Any]:
        return {"service": self.name, "status": "ok"}


def readiness(redis_client: Any, amqp_uri: str) -> tuple[bool, dict[str, Any]]:
    """(ready, body for /readyz): Redis answers a ping and RabbitMQ accepts a connection."""
    checks: dict[str, str] = {}
    try:
        redis_client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    try:
        with Connection(amqp_uri, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        checks["rabbitmq"] = "ok"
    except Exception as exc:
        checks["rabbitmq"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return ready, {"status": "ok" if ready else "unavailable", "checks": checks}
