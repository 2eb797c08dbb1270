"""The analytics ingestion queue and the exchange in front of it.

Events reach the queue `analytics.ingest` through the direct exchange
`analytics.ingest.exchange` (routing key: the queue's name), never through the default exchange:
RabbitMQ authorises a publish by exchange only, and write permission on the default exchange
would let the gateway and analytics put a message on any queue of the vhost. Where the broker is
deployed, its definitions declare the exchange, the queue and the binding
(scripts/render_rabbitmq.py) and the processes run with DECLARE_EVENT_EXCHANGES false: then
nothing here declares anything, and a publisher needs write permission on this exchange only.
Locally (make run, tests) the publishers declare them.
"""

from typing import Any

from kombu import Exchange, Queue

from dependencies.caller import TokenlessPublisher
from dependencies.queues import quorum_arguments

# The queue the analytics batch writer consumes (a quorum queue; messages are {"events": [...]}).
INGEST_QUEUE_NAME = "analytics.ingest"
INGEST_QUEUE_OWNER = "analytics"  # its consumer: dead letters go to analytics.dead-letter
# Not the queue's own name: one regex would then grant write on the queue too (which allows
# binding it to other exchanges).
INGEST_EXCHANGE_NAME = "analytics.ingest.exchange"


def declares_entities(config: dict[str, Any]) -> bool:
    """False where the broker's definitions declare exchanges and queues (deployments)."""
    return config.get("DECLARE_EVENT_EXCHANGES") is not False


def ingest_entities(config: dict[str, Any]) -> tuple[Exchange, Queue]:
    skip = not declares_entities(config)
    exchange = Exchange(INGEST_EXCHANGE_NAME, type="direct", durable=True, no_declare=skip)
    queue = Queue(
        INGEST_QUEUE_NAME,
        exchange=exchange,
        routing_key=INGEST_QUEUE_NAME,
        durable=True,
        queue_arguments=quorum_arguments(INGEST_QUEUE_NAME, INGEST_QUEUE_OWNER, config),
        no_declare=skip,
    )
    return exchange, queue


class IngestPublisher(TokenlessPublisher):
    """Publishes `{"events": [...]}` bodies onto the ingestion queue (call it with
    routing_key=INGEST_QUEUE_NAME)."""

    exchange_name = INGEST_EXCHANGE_NAME

    def setup(self) -> None:
        exchange, queue = ingest_entities(self.container.config)
        self.exchange, self.declare = exchange, [exchange, queue]
        super().setup()
