"""What every service inherits: a `health` RPC (`n.rpc.<service>.health()` in `make shell`, and
what the stack runner waits on before it calls a service ready) and the request id of the
current call in its log lines. Also the readiness checks of the client-facing processes
(gateway_http and ws: their /readyz)."""

from typing import Any

from kombu import Connection
from nameko.rpc import rpc

from dependencies.health import HealthServer
from dependencies.request_context import RequestContext


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
