"""Queues whose loss would lose data: quorum queues (replicated, on disk) with a delivery limit and
a dead-letter queue, and the error policy of the consumers that read them.

- `quorum_arguments(queue, owner, config)`: `x-queue-type: quorum`, `x-delivery-limit`
  (`AMQP_DELIVERY_LIMIT`, default 5) and the dead-letter route: exchange `<owner>.dead-letter`
  (direct, one per consuming service), routing key `<queue>`, bound to the queue `<queue>.dead`.
  RabbitMQ counts every return of a message (reject/nack with requeue, or the consumer's channel
  closing with it unacknowledged) and dead-letters it on the return after `limit` of them, so a
  message that crashes its consumer every time ends there too.
- `is_transient(exc)`: a store or peer that is down or overloaded (connection refused, timeouts,
  ClickHouse memory/parts limits, ServiceUnavailable). A consumer holds such a message and retries
  it with backoff without returning it to the broker: an outage never uses up the delivery limit.
  Any other error is a failed delivery: the message goes back to the queue after a short backoff
  and, at the limit, to the dead-letter queue.
- A consumer that gives a message up counts it in `amqp_messages_dead_lettered_total{queue,reason}`
  and logs it at ERROR; the broker's `rabbitmq_global_messages_dead_lettered_*_total` counters are
  the alert's source (docs/operations.md).
"""

import logging
from typing import Any

import prometheus_client
from kombu import Connection, Exchange, Queue
from kombu.message import Message

log = logging.getLogger(__name__)

DELIVERY_LIMIT_KEY = "AMQP_DELIVERY_LIMIT"
DEFAULT_DELIVERY_LIMIT = 5
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# Failed (non-transient) deliveries back off less: a poison message reaches its dead-letter queue
# within seconds (0.5 + 1 + 2 + 4 s for the default limit) instead of blocking a worker.
MAX_FAILED_BACKOFF_SECONDS = 8.0

# ClickHouse server errors that say "not now" rather than "never": TIMEOUT_EXCEEDED, READONLY,
# TOO_MANY_SIMULTANEOUS_QUERIES, SOCKET_TIMEOUT, NETWORK_ERROR, MEMORY_LIMIT_EXCEEDED,
# TABLE_IS_READ_ONLY, TOO_MANY_PARTS, UNKNOWN_TABLE/UNKNOWN_DATABASE (not migrated yet),
# KEEPER_EXCEPTION.
TRANSIENT_CLICKHOUSE_CODES = frozenset({60, 81, 159, 164, 202, 209, 210, 241, 242, 252, 999})

DEAD_LETTERED = prometheus_client.Counter(
    "amqp_messages_dead_lettered_total",
    "Messages a consumer gave up on: returned for the last time (delivery limit) or rejected as "
    "unreadable; RabbitMQ moves them to <queue>.dead.",
    ["queue", "reason"],
)
DELIVERY_FAILURES = prometheus_client.Counter(
    "amqp_message_failures_total",
    "Failed deliveries by kind: transient (held and retried) or failed (returned to the queue).",
    ["queue", "kind"],
)


def delivery_limit(config: dict[str, Any]) -> int:
    limit = int(config.get(DELIVERY_LIMIT_KEY) or DEFAULT_DELIVERY_LIMIT)
    if limit < 1:
        raise ValueError(f"{DELIVERY_LIMIT_KEY} must be at least 1")
    return limit


def dead_letter_exchange_name(owner: str) -> str:
    return f"{owner}.dead-letter"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dead"


def quorum_arguments(queue: str, owner: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit(config),
        "x-dead-letter-exchange": dead_letter_exchange_name(owner),
        "x-dead-letter-routing-key": queue,
    }


def dead_letter_entities(queue: str, owner: str) -> tuple[Exchange, Queue]:
    exchange = Exchange(dead_letter_exchange_name(owner), type="direct", durable=True)
    dead = Queue(
        dead_letter_queue_name(queue),
        exchange=exchange,
        routing_key=queue,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )
    return exchange, dead


def declare_dead_letter(channel: Any, queue: str, owner: str) -> None:
    """The dead-letter exchange and `<queue>.dead`, bound; idempotent."""
    exchange, dead = dead_letter_entities(queue, owner)
    exchange(channel).declare()
    dead(channel).declare()


def declare_dead_letter_with(amqp_uri: str, queue: str, owner: str, **connection: Any) -> None:
    with Connection(amqp_uri, **connection) as conn:
        declare_dead_letter(conn.channel(), queue, owner)


class QuorumQueue(Queue):
    """A queue a publisher declares (so nothing published before its consumer started is lost)
    with the same arguments as its consumer; they depend on the config, so `configured(config)`
    gives the Queue to declare (dependencies.caller.TokenlessPublisher does it in setup)."""

    def __init__(self, name: str, owner: str) -> None:
        super().__init__(name, durable=True)
        self.owner = owner

    def configured(self, config: dict[str, Any]) -> Queue:
        return Queue(
            self.name, durable=True, queue_arguments=quorum_arguments(self.name, self.owner, config)
        )


def delivery_count(message: Message) -> int:
    """Earlier returns of this message (RabbitMQ's `x-delivery-count` on quorum queues)."""
    headers = message.headers or {}
    try:
        return int(headers.get("x-delivery-count") or 0)
    except (TypeError, ValueError):
        return 0


def backoff_seconds(attempt: int, cap: float = MAX_BACKOFF_SECONDS) -> float:
    return min(cap, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempt - 1))


def _transient_types() -> tuple[type[BaseException], ...]:
    import sqlalchemy.exc

    from kernel.errors import ServiceUnavailable

    types: list[type[BaseException]] = [
        ConnectionError,
        TimeoutError,
        ServiceUnavailable,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.TimeoutError,
    ]
    try:
        import redis.exceptions

        types += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
        types.append(redis.exceptions.BusyLoadingError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import clickhouse_driver.errors

        types += [
            clickhouse_driver.errors.NetworkError,
            clickhouse_driver.errors.SocketTimeoutError,
        ]
    except ImportError:  # pragma: no cover
        pass
    try:
        import pymongo.errors

        types.append(pymongo.errors.ConnectionFailure)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


_TRANSIENT: tuple[type[BaseException], ...] | None = None


def is_transient(exc: BaseException | None) -> bool:
    """A store or peer that is unreachable or overloaded: retry later, it is not the message."""
    global _TRANSIENT
    if exc is None:
        return False
    if _TRANSIENT is None:
        _TRANSIENT = _transient_types()
    if isinstance(exc, _TRANSIENT):
        return True
    code = getattr(exc, "code", None)
    if type(exc).__module__.startswith("clickhouse_driver") and code in TRANSIENT_CLICKHOUSE_CODES:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, _TRANSIENT)


def note_failure(queue: str, message: Message, limit: int, exc: BaseException | None) -> bool:
    """Log and count a failed (non-transient) delivery about to be returned; True when RabbitMQ
    will dead-letter it on this return."""
    earlier = delivery_count(message)
    DELIVERY_FAILURES.labels(queue, "failed").inc()
    if earlier >= limit:
        DEAD_LETTERED.labels(queue, "delivery_limit").inc()
        log.error(
            "giving up on a message of %s after %d deliveries (%r): RabbitMQ moves it to %s",
            queue,
            earlier + 1,
            exc,
            dead_letter_queue_name(queue),
        )
        return True
    log.warning(
        "delivery %d of a message of %s failed (%r); returned to the queue (limit %d)",
        earlier + 1,
        queue,
        exc,
        limit,
    )
    return False


def note_unreadable(queue: str) -> None:
    DEAD_LETTERED.labels(queue, "unreadable").inc()
    log.error(
        "rejecting an unreadable message of %s: moved to %s", queue, dead_letter_queue_name(queue)
    )
