"""What a route is (RouteSpec), and the work its spec describes, done in one place for every route
before its handler runs: authenticate the caller, check the role, parse and validate the JSON
body. The handler is given what passed (`principal`, `body`); the OpenAPI document is built from
the same specs (gateway_http/openapi.py). Services validate their input again: they do not trust
the gateway, which only answers a bad request before any RPC."""

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from gateway_http.admission import Gatekeeper
from gateway_http.authn import Principal, RequestAuthenticator
from gateway_http.bodies import read_body
from kernel.errors import Unauthenticated
from kernel.json_text import parse_json_text
from kernel.schemas import parse_model

# What a handler may take besides the request and its path values: `principal` (the
# authenticated caller, None for a key caller) and `body` (the JSON as the client sent it, after
# it passed the spec's model; the services are given that, not a re-serialised model).
HANDLER_ARGUMENTS = ("principal", "body")
# A conditional request is decided before its content is processed (RFC 9110 13.2.1): only the
# service knows the version, so it validates the body of a request that carries If-Match, after
# the precondition (a stale If-Match is a 412 whatever the body).
CONDITION = "If-Match"


@dataclass(frozen=True)
class RouteSpec:
    """A route: what the gateway checks before its handler runs, and what the OpenAPI document
    says about it."""

    summary: str
    tag: str
    body: type | None = None  # a pydantic model the JSON body must pass
    body_required: bool = True  # False: an empty body is `{}`
    # The body's model by the caller's role where it depends on the role (`body`, their union,
    # is what the document shows); a role not listed has its body parsed, not validated: its
    # service answers it (an admin has no profile: 404, whatever the body).
    body_by_role: Mapping[str, type] = field(default_factory=dict)
    parse_body: bool = True  # False: the handler reads the body itself (ingestion passes text on)
    responses: dict[int, Any] = field(default_factory=dict)
    authenticated: bool = True  # a verified bearer token
    roles: tuple[str, ...] = ()  # the caller's role must be one of these (none: any role)
    # A header with a key that the service verifies (ingestion keys). On an authenticated route
    # it stands in for the bearer token; on an anonymous one it is required (401 without it). A
    # key caller's body is parsed but not validated here: the gateway cannot authenticate the key,
    # and no caller learns more than 401 before it is authenticated.
    key_header: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    query_model: type | None = None  # a pydantic model: one query parameter per field
    media_type: str = "application/json"  # of the success response when `responses` is empty
    headers: dict[str, str] = field(default_factory=dict)  # request headers it reads
    response_headers: dict[str, str] = field(default_factory=dict)  # on success responses
    # What the API checks that a JSON Schema cannot state (a field against another, an object
    # that must exist, a value only the server issues): each answers 422 when broken. The
    # document lists them (422 and x-rules-beyond-schema); docs/decisions.md says why.
    rules: tuple[str, ...] = ()

    @property
    def validates_body(self) -> bool:
        return self.body is not None and self.parse_body


def handler_takes(spec: RouteSpec, handler: Callable[..., Any]) -> frozenset[str]:
    """Which of HANDLER_ARGUMENTS the handler takes. A handler that cannot take the body its spec
    validates, or asks for what its spec does not provide, fails when the service starts."""
    parameters = inspect.signature(handler).parameters
    takes = frozenset(name for name in HANDLER_ARGUMENTS if name in parameters)
    name = getattr(handler, "__qualname__", repr(handler))
    if spec.validates_body and "body" not in takes:
        raise TypeError(f"{name}: its RouteSpec validates a body; take it as `body`")
    if "body" in takes and not spec.validates_body:
        raise TypeError(f"{name} takes `body`, but its RouteSpec validates none")
    if "principal" in takes and not spec.authenticated:
        raise TypeError(f"{name} takes `principal` on a route that authenticates nobody")
    return takes


def checked_arguments(
    spec: RouteSpec, request: Request, gatekeeper: Gatekeeper, context_data: dict[str, Any]
) -> dict[str, Any]:
    """Authenticate (bearer token or key), check the role, then read and validate the body, in
    that order: the first failure is the answer. An authenticated token goes into
    `context_data`, the worker's, so every RPC of the handler relays it (gateway_http.authn)."""
    key = request.headers.get(spec.key_header) if spec.key_header else None
    principal: Principal | None = None
    if key:
        pass  # the service verifies the key
    elif spec.authenticated:
        principal = RequestAuthenticator(gatekeeper, context_data).require(request, *spec.roles)
    elif spec.key_header:
        raise Unauthenticated(f"this route needs an {spec.key_header} header")
    arguments: dict[str, Any] = {"principal": principal}
    if spec.validates_body:
        # Only an empty body stands for `{}`; a JSON null is a body, and no model takes it.
        raw = read_body(request, optional=not spec.body_required)
        data = {} if raw is None else parse_json_text(raw)
        model = spec.body
        if key or (CONDITION in spec.headers and CONDITION in request.headers):
            model = None
        elif spec.body_by_role and principal is not None:
            model = spec.body_by_role.get(principal.role)
        if model is not None:
            parse_model(model, data)
        arguments["body"] = data
    return arguments
