"""The chat hub process: `python -m ws.server`.

An eventlet WSGI server (ws.settings: WS_ADDRESS, default 127.0.0.1:8001) serving
- /ws: the WebSocket endpoint (ws.sockets, on eventlet.websocket). The handshake is refused with
  an HTTP status before the upgrade: 401 without a valid, unrevoked access token (Authorization:
  Bearer; for browsers the subprotocols `bearer, <token>`, answered with `bearer`, or ?jwt=),
  403 for an Origin not in WS_ALLOWED_ORIGINS (clients that send no Origin, i.e. not browsers,
  are let through), 429 past MAX_CONNECTIONS_PER_USER here;
- /healthz (process up) and /readyz (Redis and RabbitMQ reachable);
and Prometheus metrics on METRICS_PORT. Next to it runs a Nameko container with the broadcast
handlers of ws.fanout, and one sweeper that ends sockets past their idle timeout or token expiry.
The access log (logger `ws.access`) and the hub's own log go through config.yml's handler, whose
RedactTokens filter logs a `jwt` in a query string as `jwt=[redacted]`.
"""

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import logging  # noqa: E402
import logging.config  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

from eventlet import wsgi  # noqa: E402
from eventlet.event import Event  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402

from dependencies.health import readiness  # noqa: E402
from dependencies.metrics import serve_metrics  # noqa: E402
from dependencies.redis import make_redis  # noqa: E402
from kernel.config import load_config  # noqa: E402
from kernel.denylist import AccessDenylist  # noqa: E402
from kernel.errors import Unauthenticated  # noqa: E402
from kernel.tokens import AccessClaims, TokenCodec  # noqa: E402
from ws.connection import (  # noqa: E402
    ChatConnection,
    ChatServices,
    PresenceWorkers,
    end_overdue,
)
from ws.fanout import EventPublisher, fanout_service  # noqa: E402
from ws.hub import Hub  # noqa: E402
from ws.metrics import HANDSHAKES  # noqa: E402
from ws.presence import Presence  # noqa: E402
from ws.protocol import CLOSE_GOING_AWAY  # noqa: E402
from ws.rpc import RpcPool, SendBatcher  # noqa: E402
from ws.settings import WsSettings  # noqa: E402
from ws.sockets import BEARER_PROTOCOL, ChatWebSocketWSGI  # noqa: E402

log = logging.getLogger("ws")
access_log = logging.getLogger("ws.access")
CLAIMS = "ws.claims"
ACCESS_TOKEN = "ws.access_token"  # noqa: S105 - an environ key, not a secret
# Where a handshake may carry the access token (see handshake_token).
TOKEN_CARRIERS = ("HTTP_AUTHORIZATION", "HTTP_SEC_WEBSOCKET_PROTOCOL", "QUERY_STRING")
SHUTDOWN_SECONDS = 5.0
SWEEP_SECONDS = 1.0
# send_messages calls out at once (the rest of the RPC pool serves sync, read and presence):
# fewer calls in flight make fuller batches under load.
SEND_CALLS_IN_FLIGHT = 4
StartResponse = Callable[..., Any]


def handshake_token(environ: dict[str, Any]) -> str | None:
    """The access token: `Authorization: Bearer <token>`, else the subprotocols offered as
    `bearer, <token>` (what a browser can send), else `?jwt=<token>`."""
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    offered = [p.strip() for p in environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "").split(",")]
    if BEARER_PROTOCOL in offered:
        rest = [p for p in offered if p and p != BEARER_PROTOCOL]
        return rest[0] if len(rest) == 1 else None
    values = parse_qs(environ.get("QUERY_STRING", "")).get("jwt")
    return values[0] if values else None


class ChatApp:
    def __init__(
        self,
        config: dict[str, Any],
        settings: WsSettings,
        services: ChatServices,
        codec: TokenCodec,
        denylist: AccessDenylist,
    ) -> None:
        self.config = config
        self.settings = settings
        self.services = services
        self.codec = codec
        self.denylist = denylist
        self.websocket = ChatWebSocketWSGI(self.serve, max_frame_length=settings.hard_frame_bytes)

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return self.json(start_response, 200, {"status": "ok"})
        if path == "/readyz":
            return self.readyz(start_response)
        if path != "/ws":
            return self.json(start_response, 404, {"detail": "not found"})
        try:
            refusal = self.refuse(environ)
        except Exception:
            log.exception("handshake check failed")
            refusal = (503, "cannot accept connections right now; retry")
        if refusal is not None:
            status, detail = refusal
            HANDSHAKES.labels(str(status)).inc()
            log.info("handshake refused %s: %s", status, detail)
            return self.json(start_response, status, {"detail": detail})
        HANDSHAKES.labels("101").inc()
        return self.websocket.upgrade(environ, start_response)

    def refuse(self, environ: dict[str, Any]) -> tuple[int, str] | None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin not in self.settings.allowed_origins:
            return 403, "origin not allowed"
        token = handshake_token(environ)
        if token is None:
            return (
                401,
                "missing access token (Authorization: Bearer, subprotocols bearer, or ?jwt=)",
            )
        try:
            claims = self.codec.decode_access_token(token)
        except Unauthenticated as exc:
            return 401, exc.detail
        if self.denylist.is_denied(claims.token_id, claims.session_id):
            return 401, "access token has been revoked"
        hub = self.services.hub
        if hub.connections_of(claims.subject) >= self.settings.max_connections_per_user:
            return 429, "too many connections for this account"
        if hub.count >= self.settings.max_connections:
            return 503, "this hub is full"
        environ[CLAIMS] = claims
        environ[ACCESS_TOKEN] = token  # relayed with the connection's RPC calls
        return None

    def serve(self, ws: Any) -> None:
        environ = ws.environ  # kept by the socket as long as it is open
        claims: AccessClaims = environ.pop(CLAIMS)
        connection = ChatConnection(ws, claims, environ.pop(ACCESS_TOKEN), self.services)
        # The token now lives in one place, the connection: its copies in the handshake's
        # headers and query string go (the environ lives as long as the socket), and so do
        # the claims.
        for key in TOKEN_CARRIERS:
            environ.pop(key, None)
        del claims
        log.info("connected %s user=%s", connection.id, connection.user_id)
        connection.run()
        log.info("disconnected %s user=%s", connection.id, connection.user_id)

    def readyz(self, start_response: StartResponse) -> Iterable[bytes]:
        ready, body = readiness(self.services.presence.client, self.config["AMQP_URI"])
        return self.json(start_response, 200 if ready else 503, body)

    @staticmethod
    def json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
        reasons = {
            200: "OK",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
            503: "Service Unavailable",
        }
        payload = json.dumps(body).encode()
        start_response(
            f"{status} {reasons[status]}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def refresh_presence(services: ChatServices) -> None:
    interval = max(1.0, services.settings.presence_ttl_seconds / 3)
    while True:
        eventlet.sleep(interval)
        try:
            services.presence.refresh(services.hub.users())
        except Exception:
            log.warning("presence refresh failed", exc_info=True)


def sweep(services: ChatServices) -> None:
    """One greenthread for every socket's idle timeout and token expiry."""
    while True:
        eventlet.sleep(SWEEP_SECONDS)
        try:
            end_overdue(services.hub.all(), services.settings.idle_timeout_seconds)
        except Exception:
            log.warning("sweep failed", exc_info=True)


def main() -> None:
    config = load_config()
    logging.config.dictConfig(config["LOGGING"])  # its handler redacts tokens (RedactTokens)
    settings = WsSettings.from_config(config)
    serve_metrics(
        int(config.get("METRICS_PORT") or 0), str(config.get("METRICS_HOST", "127.0.0.1"))
    )

    process_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    hub = Hub()
    redis_client = make_redis(config, settings.redis_connections)
    rpc = RpcPool(config, settings.rpc_pool_size, settings.rpc_timeout_seconds)
    services = ChatServices(
        settings=settings,
        hub=hub,
        rpc=rpc,
        sends=SendBatcher(rpc, SEND_CALLS_IN_FLIGHT),
        events=EventPublisher(config),
        presence=Presence(redis_client, process_id, settings.presence_ttl_seconds),
        process_id=process_id,
        presence_workers=PresenceWorkers(),
    )
    # One worker: events are pushed to sockets in the order they arrive.
    fanout = ServiceContainer(fanout_service(hub), {**config, "max_workers": 1})
    fanout.start()
    app = ChatApp(
        config, settings, services, TokenCodec.from_config(config), AccessDenylist(redis_client)
    )
    listener = eventlet.listen((settings.host, settings.port), backlog=4096)
    eventlet.spawn_n(refresh_presence, services)
    eventlet.spawn_n(sweep, services)

    stopping = Event()

    def stop(*_: Any) -> None:
        if not stopping.ready():
            stopping.send()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("ws %s listening on %s:%s", process_id, settings.host, settings.port)
    server = eventlet.spawn(
        wsgi.server,
        listener,
        app.wsgi,
        max_size=settings.max_connections + 100,
        log=access_log,
        log_output=True,
        debug=False,
        socket_timeout=None,
    )
    try:
        stopping.wait()
    finally:
        shut_down(hub, server, listener)
        fanout.stop()
        rpc.stop()


def shut_down(hub: Hub, server: Any, listener: Any) -> None:
    """Stop accepting, tell every client to go elsewhere (1001), then stop serving."""
    listener.close()
    closing = eventlet.GreenPool()
    for connection in hub.all():
        if isinstance(connection, ChatConnection):
            closing.spawn_n(connection.close_now, CLOSE_GOING_AWAY, "server shutting down")
    with eventlet.Timeout(SHUTDOWN_SECONDS, False):
        closing.waitall()
    server.kill()


if __name__ == "__main__":
    main()
