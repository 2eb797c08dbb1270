"""The per-process RabbitMQ accounts of scripts/render_rabbitmq.py on the real broker: every
service starts and answers with exactly the permissions derived from its code, and an account
can't publish another service's events, call a service it doesn't call, or bind another
service's RPC queue."""

import secrets
import tempfile
from collections.abc import Iterator

import pytest
import requests
from kombu import Connection, Exchange, Queue
from nameko.rpc import RpcProxy
from nameko.testing.services import dummy, entrypoint_hook

from scripts.isolated_stack import RABBIT_API
from scripts.processes import process
from scripts.render_rabbitmq import (
    broker_processes,
    broker_use,
    exchanges,
    password_hash,
    permissions,
)
from ws.fanout import fanout_service
from ws.hub import Hub

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts() -> Iterator[dict[str, str]]:
    """A vhost with one account per process kind (as deployed), AMQP URIs by process name."""
    tag = secrets.token_hex(4)
    vhost = f"perm_test_{tag}"
    requests.put(f"{RABBIT_API}/vhosts/{vhost}", timeout=10).raise_for_status()
    for exchange in exchanges():  # pre-declared by the definitions, as deployed
        requests.put(
            f"{RABBIT_API}/exchanges/{vhost}/{exchange}",
            json={"type": "topic", "durable": True},
            timeout=10,
        ).raise_for_status()
    uris, users = {}, []
    try:
        for spec in broker_processes():
            user, password = f"perm-{tag}-{spec.name}", secrets.token_urlsafe(12)
            users.append(user)
            requests.put(
                f"{RABBIT_API}/users/{user}", json={"password": password, "tags": ""}, timeout=10
            ).raise_for_status()
            vhost_permissions, topics = permissions(broker_use(spec))
            requests.put(
                f"{RABBIT_API}/permissions/{vhost}/{user}", json=vhost_permissions, timeout=10
            ).raise_for_status()
            for topic in topics:
                requests.put(
                    f"{RABBIT_API}/topic-permissions/{vhost}/{user}", json=topic, timeout=10
                ).raise_for_status()
            uris[spec.name] = f"pyamqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        yield uris
    finally:
        for user in users:
            requests.delete(f"{RABBIT_API}/users/{user}", timeout=10)
        requests.delete(f"{RABBIT_API}/vhosts/{vhost}", timeout=10)


class GatewayStub:
    """Calls services the way gateway_http does (its RpcProxy reply queue and keys)."""

    name = "gateway_http"
    users_rpc = RpcProxy("users")
    auth_rpc = RpcProxy("auth")

    @dummy
    def call(self, service: str, method: str) -> object:
        return getattr(getattr(self, f"{service}_rpc"), method)()


def refused(uri: str, action) -> bool:
    with Connection(uri, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        try:
            action(channel)
        except Exception as exc:
            return "ACCESS_REFUSED" in str(exc) or "403" in str(exc)
        return False


def test_every_service_runs_on_its_own_account(accounts, container_factory, service_config):
    mongo_dir = tempfile.mkdtemp(prefix="perm-mongo-")
    for name in ("auth", "users", "campaigns", "applications", "messaging", "analytics"):
        config = {**service_config, "AMQP_URI": accounts[name]}
        if name == "messaging":
            config["MONGO_URL"] = f"embedded://{mongo_dir}"
        container_factory(process(name).service_class(), config).start()

    ws_config = {**service_config, "AMQP_URI": accounts["ws"], "max_workers": 1}
    container_factory(fanout_service(Hub()), ws_config).start()

    gateway = container_factory(
        GatewayStub, {**service_config, "AMQP_URI": accounts["gateway-http"]}
    )
    gateway.start()
    with entrypoint_hook(gateway, "call") as call:
        assert call("users", "health") == {"service": "users", "status": "ok"}
        assert call("auth", "health") == {"service": "auth", "status": "ok"}


def test_only_the_owner_publishes_its_events(accounts):
    campaigns_events = Exchange("campaigns.events", type="topic", durable=True)

    def publish_campaign_event(channel):
        producer = channel.connection.client.Producer(channel)
        producer.publish(
            {"forged": True}, exchange=campaigns_events, routing_key="campaign_created"
        )

    assert refused(accounts["users"], publish_campaign_event)
    assert refused(accounts["analytics"], publish_campaign_event)
    assert not refused(accounts["campaigns"], publish_campaign_event)


def test_an_account_calls_only_the_services_it_uses(accounts):
    rpc = Exchange("nameko-rpc", type="topic", durable=True)

    def call_create_admin(channel):
        producer = channel.connection.client.Producer(channel)
        producer.publish({"args": [], "kwargs": {}}, exchange=rpc, routing_key="auth.create_admin")

    assert refused(accounts["users"], call_create_admin)
    assert refused(accounts["ws"], call_create_admin)  # ws calls messaging only
    assert not refused(accounts["gateway-http"], call_create_admin)


def test_an_account_cannot_listen_to_another_services_calls(accounts):
    rpc = Exchange("nameko-rpc", type="topic", durable=True)

    def bind(queue_name: str, key: str):
        return lambda channel: Queue(queue_name, exchange=rpc, routing_key=key)(channel).declare()

    assert refused(accounts["users"], bind("rpc-users", "auth.*"))
    assert refused(accounts["users"], bind("rpc-auth", "auth.*"))
    assert not refused(accounts["users"], bind("rpc-users", "users.*"))


def test_a_user_from_the_definitions_logs_in_with_its_password():
    """The password hash broker-config writes is one RabbitMQ accepts."""
    user, password = f"perm-hash-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    requests.put(
        f"{RABBIT_API}/users/{user}",
        json={
            "password_hash": password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": "",
        },
        timeout=10,
    ).raise_for_status()
    try:
        requests.put(
            f"{RABBIT_API}/permissions/%2F/{user}",
            json={"configure": "^$", "write": "^$", "read": "^$"},
            timeout=10,
        ).raise_for_status()
        with Connection(f"pyamqp://{user}:{password}@127.0.0.1:5672/%2F") as connection:
            connection.ensure_connection(max_retries=1)
        wrong = Connection(f"pyamqp://{user}:wrong@127.0.0.1:5672/%2F")
        with pytest.raises(Exception, match=r"ACCESS_REFUSED|403"), wrong:
            wrong.ensure_connection(max_retries=1)
    finally:
        requests.delete(f"{RABBIT_API}/users/{user}", timeout=10)
