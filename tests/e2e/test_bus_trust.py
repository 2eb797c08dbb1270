"""The issue's reproduction against the whole stack: a bare client of RabbitMQ (not the gateway)
can neither rewrite a victim's profile nor mint an admin (issue 10, items 1 and 2)."""

import pytest
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.exceptions import MethodNotFound
from nameko.standalone.rpc import ClusterRpcProxy

from kernel.config import load_config
from kernel.errors import Unauthenticated
from tests.e2e.marketplace import PASSWORD, call, creator_profile, make_creator, signup

pytestmark = pytest.mark.e2e


def test_a_bare_bus_client_acts_for_nobody(api):
    victim = make_creator(api, display_name="Victim")
    attacker = signup(api, "creator")
    config = {**load_config(), "AMQP_URI": api.env["AMQP_URI"]}
    defaced = creator_profile(display_name="Defaced")
    with ClusterRpcProxy(config, timeout=20) as bus:
        with pytest.raises(Unauthenticated):
            bus.users.replace_profile(defaced)
        with pytest.raises(MethodNotFound):
            bus.auth.create_admin("evil@example.com", PASSWORD)
    stolen_context = {AUTH_TOKEN_CONTEXT_KEY: attacker.token}
    with ClusterRpcProxy(config, context_data=stolen_context, timeout=20) as as_attacker:
        assert as_attacker.users.replace_profile(defaced)["id"] == attacker.id  # its own only
    profile = call(api, "GET", "/api/v1/me/profile", victim).json()
    assert profile["display_name"] == "Victim"
    login = call(
        api, "POST", "/api/v1/auth/login", body={"email": "evil@example.com", "password": PASSWORD}
    )
    assert login.status_code == 401
