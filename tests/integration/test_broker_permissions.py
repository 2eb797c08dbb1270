"""The per-process RabbitMQ accounts of scripts/render_rabbitmq.py on the real broker: every
service starts and answers with exactly the permissions derived from its code, and an account
can't publish another service's events, call a service it doesn't call, or bind another
service's RPC queue, nor delete another service's exchange, nor reach a queue through the default
exchange."""

import secrets
import tempfile
from collections.abc import Iterator

import pytest
import requests
from kombu import Connection, Exchange, Queue
from nameko.rpc import RpcProxy
from nameko.testing.services import dummy, entrypoint_hook

from dependencies.ingest_queue import INGEST_EXCHANGE_NAME, INGEST_QUEUE_NAME
from scripts.isolated_stack import RABBIT_API
from scripts.processes import process
from scripts.render_rabbitmq import (
    broker_processes,
    broker_use,
    exchanges,
    ingest_topology,
    password_hash,
    permissions,
)
from ws.fanout import fanout_service
from ws.hub import Hub

pytestmark = pytest.mark.integration
AS_DEPLOYED = {"DECLARE_EVENT_EXCHANGES": False}  # DECLARE_BROKER_ENTITIES=false in compose/k8s


@pytest.fixture
def accounts() -> Iterator[dict[str, str]]:
    """A vhost with one account per process kind (as deployed), AMQP URIs by process name."""
    tag = secrets.token_hex(4)
    vhost = f"perm_test_{tag}"
    requests.put(f"{RABBIT_API}/vhosts/{vhost}", timeout=10).raise_for_status()
    # pre-declared by the definitions, as deployed
    topology = ingest_topology()
    for exchange in exchanges():
        requests.put(
            f"{RABBIT_API}/exchanges/{vhost}/{exchange}",
            json={"type": "topic", "durable": True},
            timeout=10,
        ).raise_for_status()
    for exchange in topology["exchanges"]:
        requests.put(
            f"{RABBIT_API}/exchanges/{vhost}/{exchange['name']}",
            json={"type": exchange["type"], "durable": True},
            timeout=10,
        ).raise_for_status()
    for queue in topology["queues"]:
        requests.put(
            f"{RABBIT_API}/queues/{vhost}/{queue['name']}", json={"durable": True}, timeout=10
        ).raise_for_status()
    for binding in topology["bindings"]:
        requests.post(
            f"{RABBIT_API}/bindings/{vhost}/e/{binding['source']}/q/{binding['destination']}",
            json={"routing_key": binding["routing_key"]},
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
        config = {**service_config, "AMQP_URI": accounts[name], **AS_DEPLOYED}
        if name == "messaging":
            config["MONGO_URL"] = f"embedded://{mongo_dir}"
        container_factory(process(name).service_class(), config).start()

    ws_config = {**service_config, "AMQP_URI": accounts["ws"], "max_workers": 1, **AS_DEPLOYED}
    container_factory(fanout_service(Hub()), ws_config).start()

    gateway = container_factory(
        GatewayStub, {**service_config, "AMQP_URI": accounts["gateway-http"], **AS_DEPLOYED}
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


def test_no_account_can_delete_an_exchange_it_does_not_own(accounts):
    """Consumers bind to another service's events exchange; they may not delete it (nor its
    owner, nor the ingestion exchange): the definitions declare them, nobody needs configure."""
    for user in ("users", "analytics", "ws", "campaigns"):
        assert refused(accounts[user], lambda c: c.exchange_delete("campaigns.events")), user
    for user in ("gateway-http", "analytics", "analytics-writer"):
        assert refused(accounts[user], lambda c: c.exchange_delete(INGEST_EXCHANGE_NAME)), user
        assert refused(accounts[user], lambda c: c.exchange_delete("auth.events")), user
    assert refused(accounts["gateway-http"], lambda c: c.queue_delete(INGEST_QUEUE_NAME))


def test_nobody_reaches_a_queue_through_the_default_exchange(accounts):
    def to_auths_calls(channel):
        producer = channel.connection.client.Producer(channel)
        producer.publish({"args": [], "kwargs": {}}, exchange="", routing_key="rpc-auth")

    def to_the_ingest_queue(channel):
        producer = channel.connection.client.Producer(channel)
        producer.publish({"events": []}, exchange="", routing_key=INGEST_QUEUE_NAME)

    for user in ("gateway-http", "analytics", "users"):
        assert refused(accounts[user], to_auths_calls), user
        assert refused(accounts[user], to_the_ingest_queue), user


def test_the_gateway_queues_clicks_through_the_ingestion_exchange(accounts):
    ingest = Exchange(INGEST_EXCHANGE_NAME, type="direct", durable=True, no_declare=True)

    def publish_click(channel):
        producer = channel.connection.client.Producer(channel)
        producer.publish(
            {"events": []}, exchange=ingest, routing_key=INGEST_QUEUE_NAME, mandatory=True
        )

    assert not refused(accounts["gateway-http"], publish_click)
    assert not refused(accounts["analytics"], publish_click)
    assert refused(accounts["users"], publish_click)
    assert refused(accounts["analytics-writer"], publish_click)  # it only reads the queue
    with Connection(accounts["analytics-writer"]) as connection:
        queue = Queue(INGEST_QUEUE_NAME, durable=True, no_declare=True)(connection.channel())
        assert queue.get(no_ack=True) is not None  # it arrived on the ingestion queue
