"""Quorum queues, the delivery limit and dead-letter queues on the real broker
(dependencies/queues.py, event_handlers.py, batch_consumer.py; scripts/migrate_queues.py): the
services declare their queues as quorum queues; a message survives its consumer's crash; a
poison message ends in `<queue>.dead` while the next ones are processed; an outage is retried
without using up the limit; an old classic queue is replaced only when empty."""

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from amqp.exceptions import NotFound
from eventlet.event import Event
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import event_dispatcher
from prometheus_client import REGISTRY

from dependencies.batch_consumer import batch_consumer
from dependencies.event_handlers import event_handler
from dependencies.queues import QuorumQueue, dead_letter_queue_name
from scripts import dead_letters as dead_letter_tool
from scripts import migrate_queues
from scripts.isolated_stack import RABBIT_API
from services.analytics.service import AnalyticsService
from services.analytics.writer import AnalyticsWriter
from services.users.service import UsersService
from tests import analytics_reference as ref
from tests.acting import acting_as
from tests.conftest import wait_until
from tests.integration.test_analytics_clickhouse import NOW, add_campaign

pytestmark = pytest.mark.integration

PROBE_QUEUE = "evt-src-happened--durable_probe.handle"
BATCH_QUEUE = "probe.ingest"

handled: list[dict[str, Any]] = []
started: list[dict[str, Any]] = []
failures: dict[str, int] = {}
gate = Event()
cured: list[bool] = []  # set: poison events are handled (the bug was fixed)


class DurableProbe:
    name = "durable_probe"

    @event_handler("src", "happened")
    def handle(self, payload: dict[str, Any]) -> None:
        started.append(payload)
        kind = payload["kind"]
        if kind == "block" and not gate.ready():
            gate.wait()  # the container is killed meanwhile
        if kind == "poison" and not cured:
            raise ValueError("this event can never be handled")
        if kind == "flaky" and failures.setdefault(payload["id"], 0) < 3:
            failures[payload["id"]] += 1
            raise ConnectionError("the store is down")
        handled.append(payload)


class BatchProbe:
    name = "batch_probe"

    @batch_consumer(BATCH_QUEUE)
    def store(self, bodies: list[dict[str, Any]], retry: bool) -> None:
        if any(body["kind"] == "poison" for body in bodies):
            raise ValueError("a batch with this message always fails")
        handled.extend(bodies)


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    global gate
    handled.clear()
    started.clear()
    failures.clear()
    cured.clear()
    gate = Event()
    yield
    if not gate.ready():
        gate.send(None)


def vhost_of(config: dict[str, Any]) -> str:
    return config["AMQP_URI"].rsplit("/", 1)[1]


def queue_info(config: dict[str, Any], name: str) -> dict[str, Any] | None:
    response = requests.get(
        f"{RABBIT_API}/queues/{quote(vhost_of(config), safe='')}/{quote(name, safe='')}",
        timeout=10,
    )
    return None if response.status_code == 404 else response.json()


def message_count(config: dict[str, Any], name: str) -> int | None:
    """Ready messages now (the management API's counts lag by seconds); None: no such queue."""
    with Connection(config["AMQP_URI"]) as connection:
        try:
            return connection.channel().queue_declare(name, passive=True).message_count
        except NotFound:
            return None


def dead_letters(config: dict[str, Any], queue: str) -> list[Any]:
    """Take every message of `<queue>.dead`."""
    taken = []
    with Connection(config["AMQP_URI"]) as connection:
        dead = Queue(dead_letter_queue_name(queue), channel=connection.channel(), no_declare=True)
        while (message := dead.get(no_ack=True)) is not None:
            taken.append(message)
    return taken


def dead_lettered_count(queue: str, reason: str) -> float:
    labels = {"queue": queue, "reason": reason}
    return REGISTRY.get_sample_value("amqp_messages_dead_lettered_total", labels) or 0.0


def event(kind: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "kind": kind}


def test_services_declare_quorum_queues_with_a_dead_letter_queue(
    container_factory, service_config, clickhouse
):
    for service in (UsersService, AnalyticsService, AnalyticsWriter):
        container_factory(service, service_config).start()
    for queue, owner in (
        ("evt-auth-user_registered--users.on_user_registered", "users"),
        ("analytics.ingest", "analytics"),
    ):
        info = wait_until(lambda queue=queue: queue_info(service_config, queue))
        assert info["type"] == "quorum"
        assert info["durable"] and not info["auto_delete"] and not info["exclusive"]
        assert info["arguments"] == {
            "x-queue-type": "quorum",
            "x-delivery-limit": 5,
            "x-dead-letter-exchange": f"{owner}.dead-letter",
            "x-dead-letter-routing-key": queue,
        }
        dead = queue_info(service_config, f"{queue}.dead")
        assert dead is not None and dead["type"] == "quorum"


def test_an_event_survives_its_consumer_crashing_while_handling_it(
    container_factory, service_config
):
    container = container_factory(DurableProbe, service_config)
    container.start()
    crashing = event("block")
    event_dispatcher(service_config)("src", "happened", crashing)
    wait_until(lambda: crashing in started)
    container.kill()  # dies with the message unacknowledged
    assert handled == []
    gate.send(None)
    container_factory(DurableProbe, service_config).start()
    wait_until(lambda: crashing in handled)
    wait_until(lambda: message_count(service_config, PROBE_QUEUE) == 0)


def test_a_poison_event_is_dead_lettered_and_the_next_ones_flow(container_factory, service_config):
    config = {**service_config, "AMQP_DELIVERY_LIMIT": 2}
    before = dead_lettered_count(PROBE_QUEUE, "delivery_limit")
    container_factory(DurableProbe, config).start()
    dispatch = event_dispatcher(config)
    poison, good = event("poison"), event("good")
    dispatch("src", "happened", poison)
    dispatch("src", "happened", good)
    wait_until(lambda: good in handled)
    wait_until(lambda: message_count(config, f"{PROBE_QUEUE}.dead") == 1)
    [dead] = dead_letters(config, PROBE_QUEUE)
    assert dead.payload == poison
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    assert started.count(poison) == 3  # the first delivery and two returns
    assert dead_lettered_count(PROBE_QUEUE, "delivery_limit") == before + 1
    later = event("good")
    dispatch("src", "happened", later)
    wait_until(lambda: later in handled)
    assert poison not in handled


def test_an_outage_is_retried_without_using_up_the_delivery_limit(
    container_factory, service_config
):
    config = {**service_config, "AMQP_DELIVERY_LIMIT": 1}
    container_factory(DurableProbe, config).start()
    flaky = event("flaky")
    event_dispatcher(config)("src", "happened", flaky)
    wait_until(lambda: flaky in handled, timeout=20)
    assert started.count(flaky) == 4  # three transient failures, then success
    assert message_count(config, f"{PROBE_QUEUE}.dead") == 0


def test_a_poison_message_in_a_batch_is_dead_lettered_and_the_others_are_stored(
    container_factory, service_config
):
    config = {
        **service_config,
        "AMQP_DELIVERY_LIMIT": 2,
        "ANALYTICS": {**service_config.get("ANALYTICS", {}), "INSERT_BATCH_SECONDS": 0.3},
    }
    declared = QuorumQueue(BATCH_QUEUE, owner="batch_probe").configured(config)
    first, poison, second = event("good"), event("poison"), event("good")
    with Connection(config["AMQP_URI"], transport_options={"confirm_publish": True}) as connection:
        declared(connection.channel()).declare()
        producer = connection.Producer()
        for body in (first, poison, second):
            producer.publish(body, routing_key=BATCH_QUEUE, serializer="json")
    container_factory(BatchProbe, config).start()
    wait_until(lambda: first in handled and second in handled)
    wait_until(lambda: message_count(config, f"{BATCH_QUEUE}.dead") == 1)
    [dead] = dead_letters(config, BATCH_QUEUE)
    assert dead.payload == poison
    with Connection(config["AMQP_URI"]) as connection:
        later = event("good")
        connection.Producer().publish(later, routing_key=BATCH_QUEUE, serializer="json")
    wait_until(lambda: later in handled)
    assert poison not in handled


def test_a_poison_ingestion_batch_does_not_block_analytics(
    db_engine, clickhouse, container_factory, service_config
):
    config = {**service_config, "AMQP_DELIVERY_LIMIT": 1}
    creator = str(uuid.uuid4())
    campaign_id, brand_id = add_campaign(db_engine, {creator: 1})
    container_factory(AnalyticsService, config).start()
    container_factory(AnalyticsWriter, config).start()
    poison = {"events": [{"not": "an event"}]}  # counts as one event, fails in the writer
    with Connection(config["AMQP_URI"]) as connection:
        connection.Producer().publish(poison, routing_key="analytics.ingest", serializer="json")
    batch = ref.generate(campaign_id, [creator], 30, NOW, days=1)
    with acting_as(config, {"user_id": brand_id, "role": "brand"}) as cluster:
        cluster.analytics.ingest({"events": batch})
    wait_until(lambda: clickhouse.execute("SELECT count() FROM events")[0][0] == 30, timeout=20)
    wait_until(lambda: message_count(config, "analytics.ingest.dead") == 1, timeout=20)
    [dead] = dead_letters(config, "analytics.ingest")
    assert dead.payload == poison


def test_migration_replaces_an_empty_classic_queue_and_keeps_a_full_one(rabbit_config):
    config = {**rabbit_config, "AMQP_DELIVERY_LIMIT": 5}
    empty = "evt-auth-user_registered--users.on_user_registered"
    full = "analytics.ingest"
    with Connection(config["AMQP_URI"], transport_options={"confirm_publish": True}) as connection:
        Exchange("auth.events", type="topic", durable=True)(connection.channel()).declare()
        for name in (empty, full):
            Queue(name, durable=True)(connection.channel()).declare()  # classic, as before
        connection.Producer().publish({"events": []}, routing_key=full, serializer="json")
        assert migrate_queues.migrate(config["AMQP_URI"], config, dry_run=True)[empty] == (
            "would replace"
        )
        outcomes = migrate_queues.migrate(config["AMQP_URI"], config)
    assert outcomes[empty] == "replaced"
    assert outcomes[full] == "blocked (1 messages)"
    assert queue_info(config, empty)["type"] == "quorum"
    bindings = requests.get(
        f"{RABBIT_API}/queues/{quote(vhost_of(config), safe='')}/{quote(empty, safe='')}/bindings",
        timeout=10,
    ).json()
    assert {(b["source"], b["routing_key"]) for b in bindings} >= {
        ("auth.events", "user_registered")
    }
    assert queue_info(config, full)["type"] == "classic"
    assert message_count(config, full) == 1
    assert migrate_queues.migrate(config["AMQP_URI"], config)[empty] == "current"


def test_an_operator_inspects_and_replays_dead_letters(container_factory, service_config):
    config = {**service_config, "AMQP_DELIVERY_LIMIT": 1}
    container_factory(DurableProbe, config).start()
    poison = event("poison")
    event_dispatcher(config)("src", "happened", poison)
    wait_until(lambda: message_count(config, f"{PROBE_QUEUE}.dead") == 1)
    with Connection(config["AMQP_URI"], transport_options={"confirm_publish": True}) as connection:
        assert dead_letter_tool.dead_counts(connection, [PROBE_QUEUE, "nothing.here"]) == {
            PROBE_QUEUE: 1
        }
        [shown] = dead_letter_tool.show(connection, PROBE_QUEUE, limit=10)
        assert shown["reason"] == "delivery_limit" and json.loads(shown["body"]) == poison
        assert message_count(config, f"{PROBE_QUEUE}.dead") == 1  # showing leaves it there
        cured.append(True)
        assert dead_letter_tool.replay(connection, PROBE_QUEUE, limit=10) == 1
    wait_until(lambda: poison in handled)
    assert message_count(config, f"{PROBE_QUEUE}.dead") == 0
