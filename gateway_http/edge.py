"""The HTTP edge as Nameko extensions: a web server that owns request ids, body limits, per-IP
rate limits, problem+json for routing errors and RED metrics per route template; and a `route`
entrypoint that does what its RouteSpec describes before the handler's worker starts
(authentication, role, body: gateway_http.specs), turns domain errors into problem+json and never
leaks a stack trace."""

import logging
import re
import socket
import time
import uuid
from functools import partial
from typing import Any, Protocol

import prometheus_client
from eventlet import wsgi
from eventlet.event import Event
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Request, Response

from gateway_http.admission import (
    ADMISSION,
    RATE_LIMIT,
    RATE_LIMITED,
    Gatekeeper,
    gatekeeper_for,
    optional_bearer_token,
)
from gateway_http.problems import internal_error, problem_from_error, problem_response
from gateway_http.specs import RouteSpec, checked_arguments, handler_takes
from kernel.errors import DomainError, TooManyRequests
from kernel.ratelimit import Decision

log = logging.getLogger("gateway_http")

REQUEST_ID = "gateway.request_id"
ROUTE = "gateway.route"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNLIMITED_ROUTES = {"/healthz", "/readyz", "/metrics"}
# eventlet refuses request lines over 8 KiB with a bare-text 414; list queries with a cursor and a
# free-text term in percent-encoded UTF-8 reach that, and deserve a problem+json 422 from the app.
MAX_REQUEST_LINE_BYTES = 32_768
# A body the app did not read (refused: too large, unauthenticated, ...): up to the body limit is
# read and dropped so the connection stays usable; beyond it the connection closes after the
# answer, but first reads and drops what the client is still sending (for up to this long and
# this much). Closing with unread input makes the kernel answer with a reset, and the client
# would then lose the 413 it had been sent.
CLOSE_AFTER_RESPONSE = "gateway.close_after_response"
LINGER_SECONDS = 10.0
LINGER_BYTES = 256 * 1024 * 1024

HTTP_REQUESTS = prometheus_client.Counter(
    "http_requests_total",
    "HTTP requests by route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = prometheus_client.Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# (method, route, status) -> the labelled children of HTTP_REQUESTS and HTTP_DURATION: labels()
# validates and locks on every call. Bounded like the metrics themselves (the same label values).
_REQUEST_METRICS: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request_metrics(method: str, route: str, status: int) -> tuple[Any, Any]:
    children = _REQUEST_METRICS.get((method, route, status))
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_DURATION.labels(method, route),
        )
        _REQUEST_METRICS[(method, route, status)] = children
    return children


def request_id_of(request: Request) -> str:
    return request.environ[REQUEST_ID]


class EdgeApp:
    def __init__(self, server: "EdgeServer") -> None:
        self.server = server
        self.url_map = server.make_url_map()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        inbound_id = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = inbound_id if REQUEST_ID_PATTERN.match(inbound_id) else uuid.uuid4().hex
        environ[REQUEST_ID] = request_id
        request = Request(environ, shallow=True)
        request.max_content_length = self.server.max_body_bytes
        route = "unmatched"
        try:
            try:
                provider, values = self.url_map.bind_to_environ(environ).match()
                route = provider.url
                environ[ROUTE] = route
                request.path_values = values
                response = self.server.admit(request, route, provider.spec) or (
                    provider.handle_request(request)
                )
            except HTTPException as exc:
                response = self.routing_problem(exc, request)
        except Exception:
            log.exception(
                "unhandled error request_id=%s %s %s", request_id, request.method, request.path
            )
            response = internal_error(instance=request.path, request_id=request_id)

        response.headers["X-Request-ID"] = request_id
        self.server.settle_request_body(environ)
        decision: Decision | None = environ.get(RATE_LIMIT)
        if decision is not None:
            response.headers.update(decision.headers())
        elapsed = time.perf_counter() - started
        counted, timed = request_metrics(request.method, route, response.status_code)
        counted.inc()
        timed.observe(elapsed)
        log.info(
            "%s %s %s %.1fms client=%s request_id=%s",
            request.method,
            request.path,
            response.status_code,
            elapsed * 1000,
            request.remote_addr,
            request_id,
        )
        return response(environ, start_response)

    @staticmethod
    def routing_problem(exc: HTTPException, request: Request) -> Response:
        headers = {}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return problem_response(
            status=exc.code or 500,
            title=exc.name,
            detail=exc.description or exc.name,
            slug=exc.name.lower().replace(" ", "-"),
            instance=request.path,
            request_id=request_id_of(request),
            headers=headers,
        )


class EdgeProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol, plus a way for the app to close the connection after its answer
    with a lingering close (see CLOSE_AFTER_RESPONSE)."""

    linger = False

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[CLOSE_AFTER_RESPONSE] = self.close_after_response
        if environ["eventlet.input"].chunked_input:
            # eventlet de-chunks the input and ends it at the last chunk; without this flag
            # werkzeug reads a body without Content-Length as empty.
            environ["wsgi.input_terminated"] = True
        return environ

    def close_after_response(self) -> None:
        self.close_connection = 1  # read before the answer's headers: they say Connection: close
        self.linger = True

    def finish(self) -> None:
        if self.linger:
            try:
                self.wfile.flush()
                linger(self.connection)
            except OSError:
                pass  # the client went away: nothing left to protect
        super().finish()


def linger(sock: socket.socket) -> None:
    """Half-close (the answer is complete), then drop what the client still sends until it
    closes its side, or for at most LINGER_SECONDS / LINGER_BYTES."""
    sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + LINGER_SECONDS
    received = 0
    while received < LINGER_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            return
        received += len(chunk)


# eventlet's access line for the gateway: a constant that WsgiServerLog drops.
EVENTLET_ACCESS_LINE = "eventlet access line"


class WsgiServerLog:
    """The logger eventlet's server writes to, without eventlet's access line: EdgeApp writes
    one line per request already (route, status, time, client address, request id), so a second
    one only cost time. eventlet's other lines (tracebacks, errors) pass as before."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if msg != EVENTLET_ACCESS_LINE:
            self._logger.info(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class EdgeServer(WebServer):
    max_body_bytes: int = 1_048_576
    gatekeeper: Gatekeeper | None = None

    def setup(self) -> None:
        gateway = self.container.config["GATEWAY"]
        self.max_body_bytes = int(gateway["MAX_BODY_BYTES"])
        self.trust_forwarded_for = bool(gateway["TRUST_FORWARDED_FOR"])
        self.gatekeeper = gatekeeper_for(self.container)
        super().setup()

    def get_wsgi_server(
        self, sock: Any, wsgi_app: Any, protocol: Any = EdgeProtocol, debug: bool = False
    ) -> wsgi.Server:
        return wsgi.Server(
            sock,
            sock.getsockname(),
            wsgi_app,
            protocol=protocol,
            debug=debug,
            log=WsgiServerLog(logging.getLogger("nameko.web.server")),
            log_format=EVENTLET_ACCESS_LINE,
            url_length_limit=MAX_REQUEST_LINE_BYTES,
        )

    def get_wsgi_app(self) -> Any:
        app = EdgeApp(self)
        # Behind Kong the peer is Kong; the client is the last X-Forwarded-For hop Kong appended.
        return ProxyFix(app, x_for=1) if self.trust_forwarded_for else app

    def settle_request_body(self, environ: dict[str, Any]) -> None:
        """Before answering: read and drop an unread rest of the body up to the body limit, or
        have the connection close (lingering) after the answer."""
        body = environ.get("eventlet.input")
        close = environ.get(CLOSE_AFTER_RESPONSE)
        if body is None or close is None:
            return
        if body.wfile is not None:  # "100 Continue" never sent: let eventlet close, lingering
            close()
            return
        if not body.chunked_input:
            remaining = (body.content_length or 0) - body.position
            if remaining <= 0:
                return
            if remaining > self.max_body_bytes:
                close()
                return
        read = 0
        try:
            while chunk := body.read(65536):
                read += len(chunk)
                if read > self.max_body_bytes:
                    close()
                    return
        except (OSError, ValueError):  # a broken chunked encoding, a client gone
            close()

    def admit(self, request: Request, route: str, spec: RouteSpec) -> Response | None:
        """Checks made before any worker runs; a Response here refuses the request. On routes
        that authenticate, the bearer token is verified here too and the IP limit, denylist and
        subject limit share one Redis round trip; the route raises what that found when it
        authenticates (gateway_http.specs)."""
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            return problem_response(
                status=413,
                title="Payload too large",
                detail=f"request body exceeds {self.max_body_bytes} bytes",
                slug="payload-too-large",
                instance=request.path,
                request_id=request_id_of(request),
            )
        if route in UNLIMITED_ROUTES or self.gatekeeper is None:
            return None
        token = optional_bearer_token(request.environ) if spec.authenticated else None
        admission = self.gatekeeper.admit(token, f"ip:{request.remote_addr}")
        request.environ[ADMISSION] = admission
        decision = admission.ip
        request.environ[RATE_LIMIT] = decision
        if decision is None or decision.allowed:
            return None
        RATE_LIMITED.labels("ip").inc()
        error = TooManyRequests.retry_in(
            "too many requests from this address", decision.reset_after
        )
        return problem_from_error(error, instance=request.path, request_id=request_id_of(request))


class EdgeAnswering(Protocol):
    def answer_at_edge(self, request: Request, principal: Any) -> Response | None: ...


class Route(HttpRequestHandler):
    """`at_edge`: the attribute name of one of the service's dependency providers that may answer
    the request itself once the spec's checks passed (`answer_at_edge(request, principal)`, a
    Response or None), before any worker is spawned: what it answers costs no worker (no
    dependency injection, no greenthread of its own). None: the handler's worker answers."""

    server = EdgeServer()

    def __init__(self, method: str, url: str, spec: RouteSpec, at_edge: str | None = None) -> None:
        super().__init__(method, url, expected_exceptions=DomainError)
        self.spec = spec
        self.at_edge = at_edge
        self.edge: EdgeAnswering | None = None
        self.takes: frozenset[str] = frozenset()

    def setup(self) -> None:
        super().setup()
        self.takes = handler_takes(self.spec, getattr(self.container.service_cls, self.method_name))
        if self.at_edge is not None:
            providers = {dep.attr_name: dep for dep in self.container.dependencies}
            edge = providers.get(self.at_edge)
            if not hasattr(edge, "answer_at_edge"):
                raise TypeError(f"{self.method_name}: no dependency {self.at_edge} answers at edge")
            self.edge = edge

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        request_id = request_id_of(request)
        try:
            args, kwargs = self.get_entrypoint_parameters(request)
            context_data: dict[str, Any] = {"request_id": request_id}
            assert self.server.gatekeeper is not None
            checked = checked_arguments(self.spec, request, self.server.gatekeeper, context_data)
            if self.edge is not None:
                answer = self.edge.answer_at_edge(request, checked["principal"])
                if answer is not None:
                    return answer
            kwargs.update({name: value for name, value in checked.items() if name in self.takes})
            self.check_signature(args, kwargs)
            done = Event()
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data=context_data,
                handle_result=partial(self.handle_result, done),
            )
            result = done.wait()
            return self.response_from_result(result)
        except DomainError as error:
            return problem_from_error(error, instance=request.path, request_id=request_id)
        except Exception:
            log.exception("route %s %s failed request_id=%s", self.method, self.url, request_id)
            return internal_error(instance=request.path, request_id=request_id)


def route(method: str, url: str, spec: RouteSpec, at_edge: str | None = None) -> Any:
    return Route.decorator(method, url, spec=spec, at_edge=at_edge)
