"""Every route's handler takes what its RouteSpec hands it (checked again when the gateway
starts), and the checks refuse a handler that would drop a validated body."""

import pytest
from werkzeug.wrappers import Request

from gateway_http import openapi
from gateway_http.service import GatewayService
from gateway_http.specs import RouteSpec, handler_takes
from kernel.schemas import StrictModel


class Body(StrictModel):
    name: str


def test_every_routes_handler_takes_what_its_spec_provides():
    routes = openapi.collect_routes(GatewayService)
    assert len(routes) > 50
    for name, route in routes:
        takes = handler_takes(route.spec, getattr(GatewayService, name))
        assert ("body" in takes) is route.spec.validates_body, name


def test_body_routes_validate_a_model_for_each_declared_role():
    for name, route in openapi.collect_routes(GatewayService):
        spec = route.spec
        assert spec.body is None or spec.parse_body or spec.key_header, name
        assert not spec.body_by_role or spec.validates_body, name
        assert not spec.roles or spec.authenticated, name


def test_a_handler_must_take_the_body_its_spec_validates():
    def create(self, request: Request) -> None: ...

    with pytest.raises(TypeError, match="body"):
        handler_takes(RouteSpec("Create", "x", body=Body), create)
    assert handler_takes(RouteSpec("Create", "x", body=Body, parse_body=False), create) == set()


def test_a_handler_cannot_ask_for_what_its_spec_does_not_give():
    def read(self, request: Request, principal, body) -> None: ...

    with pytest.raises(TypeError, match="body"):
        handler_takes(RouteSpec("Read", "x"), read)
    with pytest.raises(TypeError, match="principal"):
        handler_takes(RouteSpec("Read", "x", body=Body, authenticated=False), read)
    assert handler_takes(RouteSpec("Read", "x", body=Body), read) == {"principal", "body"}
