"""`@batch_consumer(queue)`: a Nameko entrypoint that hands a queue's messages to the service in
batches (by size or age, whichever first) and acknowledges them only after the worker succeeded.

Nameko's `@consume` runs one worker per message and acknowledges it when the worker ends; a
writer that inserts thousands of rows at once needs the messages of many requests together. The
queue is a quorum queue with a delivery limit and `<queue>.dead` (dependencies/queues.py; the
owner is the consuming service). A batch that fails transiently (a store down) stays
unacknowledged and is retried with backoff (same messages, `retry=True`) until it succeeds; if the
process dies meanwhile RabbitMQ redelivers them. A batch that fails otherwise is split: each of
its messages is tried alone, those that succeed are acknowledged, one that still fails goes back
to the queue and, after `AMQP_DELIVERY_LIMIT` returns, to `<queue>.dead`; so one bad message
cannot block the queue. Delivery is at least once.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import eventlet
from eventlet.event import Event
from kombu import Connection, Consumer, Queue
from kombu.message import Message
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.extensions import Entrypoint

from dependencies import queues
from dependencies.queues import backoff_seconds

log = logging.getLogger(__name__)


@dataclass
class BatchBuffer:
    """Queued messages waiting for one insert: flush at max_events or max_messages, or when the
    oldest has waited max_wait seconds, whichever comes first."""

    max_events: int
    max_messages: int
    max_wait: float
    clock: Callable[[], float] = time.monotonic
    items: list[Any] = field(default_factory=list)
    events: int = 0
    oldest: float | None = None

    def add(self, item: Any, events: int) -> None:
        if self.oldest is None:
            self.oldest = self.clock()
        self.items.append(item)
        self.events += events

    def time_left(self) -> float | None:
        """Seconds until a flush is due; None while empty."""
        if self.oldest is None:
            return None
        return max(0.0, self.oldest + self.max_wait - self.clock())

    def ready(self) -> bool:
        return bool(self.items) and (
            self.events >= self.max_events
            or len(self.items) >= self.max_messages
            or self.time_left() == 0.0
        )

    def take(self) -> list[Any]:
        items, self.items, self.events, self.oldest = self.items, [], 0, None
        return items


class BatchConsumer(Entrypoint):
    """The decorated method is called as `method(bodies, retry)`: the message bodies of one
    batch, and whether these messages were tried before (a failed attempt or a redelivery).
    `count(body)` says how many items a body holds, for the size limit. `owner` names the
    service whose dead-letter exchange the queue's arguments name (default: this service; a
    queue its publishers declare too names its owner everywhere)."""

    def __init__(
        self,
        queue_name: str,
        count: Callable[[Any], int] = lambda body: 1,
        owner: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.queue_name = queue_name
        self.count = count
        self.owner = owner
        self.running = False
        self.consuming = False  # readiness (dependencies/health.py): consuming from the queue now
        self.idle = Event()
        super().__init__(**kwargs)

    def setup(self) -> None:
        config = self.container.config
        settings = config.get("ANALYTICS", {})
        self.amqp_uri = config["AMQP_URI"]
        self.max_items = int(settings.get("INSERT_BATCH_EVENTS", 10000))
        self.max_wait = float(settings.get("INSERT_BATCH_SECONDS", 1.0))
        self.prefetch = int(settings.get("INSERT_PREFETCH_MESSAGES", 200))
        self.delivery_limit = queues.delivery_limit(config)
        self.owner = self.owner or self.container.service_name
        self.queue_arguments = queues.quorum_arguments(self.queue_name, self.owner, config)
        self.connection_options = {
            "ssl": config.get(AMQP_SSL_CONFIG_KEY),
            "login_method": config.get(LOGIN_METHOD_CONFIG_KEY),
        }

    def start(self) -> None:
        self.running = True
        self.container.spawn_managed_thread(
            self._run, identifier=f"batch_consumer:{self.queue_name}"
        )

    def stop(self) -> None:
        self.running = False

    def _run(self) -> None:
        attempt = 0
        while self.running:
            try:
                self._consume()
                attempt = 0
            except Exception:
                attempt += 1
                log.warning("consumer of %s failed; reconnecting", self.queue_name, exc_info=True)
                eventlet.sleep(backoff_seconds(attempt))

    def _consume(self) -> None:
        buffer = BatchBuffer(self.max_items, self.prefetch, self.max_wait)

        def receive(body: Any, message: Message) -> None:
            try:
                size = self.count(body)
            except Exception:
                # Not a body this consumer understands: retrying it would block the queue.
                queues.note_unreadable(self.queue_name)
                message.reject(requeue=False)
                return
            buffer.add(message, size)

        with Connection(self.amqp_uri, **self.connection_options) as connection:
            channel = connection.channel()
            channel.basic_qos(0, self.prefetch, False)
            queues.declare_dead_letter(channel, self.queue_name, self.owner)
            queue = Queue(
                self.queue_name,
                durable=True,
                queue_arguments=self.queue_arguments,
                channel=channel,
            )
            queue.declare()
            with Consumer(channel, [queue], callbacks=[receive], accept=["json"]):
                self.consuming = True
                try:
                    self._drain(connection, buffer)
                finally:
                    self.consuming = False

    def _drain(self, connection: Connection, buffer: BatchBuffer) -> None:
        while self.running:
            if buffer.ready():
                self._deliver(buffer.take())
                continue
            due_in = buffer.time_left()
            with contextlib.suppress(TimeoutError):  # nothing arrived in time
                connection.drain_events(timeout=1.0 if due_in is None else max(due_in, 0.01))

    def _deliver(self, messages: list[Message], retry: bool = False) -> None:
        """Run the worker until it succeeds, then acknowledge; while it fails transiently nothing
        new is read (the prefetch window is full), so a ClickHouse outage queues up in RabbitMQ.
        Any other failure: each message alone (`_deliver_alone`)."""
        bodies = [message.decode() for message in messages]
        retry = retry or any(message.delivery_info.get("redelivered") for message in messages)
        attempt = 0
        while True:
            error = self._run_worker(bodies, retry)
            if error is None:
                for message in messages:
                    message.ack()
                return
            if not self.running:
                return  # stopping: unacknowledged, RabbitMQ hands the batch out again
            if not queues.is_transient(error):
                if len(messages) == 1:
                    self._give_back(messages[0], error)
                    return
                log.warning(
                    "batch of %d messages failed (%r); trying them one by one", len(messages), error
                )
                for message in messages:
                    if not self.running:
                        return
                    self._deliver([message], retry=True)
                return
            attempt += 1
            retry = True
            queues.DELIVERY_FAILURES.labels(self.queue_name, "transient").inc()
            log.warning(
                "batch of %d messages failed (attempt %d, %r)", len(messages), attempt, error
            )
            eventlet.sleep(backoff_seconds(attempt))

    def _run_worker(self, bodies: list[Any], retry: bool) -> BaseException | None:
        outcome: Event = Event()

        def handle_result(worker_ctx: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
            outcome.send(exc_info)
            return result, exc_info

        self.container.spawn_worker(self, (bodies, retry), {}, handle_result=handle_result)
        exc_info = outcome.wait()
        return None if exc_info is None else exc_info[1]

    def _give_back(self, message: Message, error: BaseException) -> None:
        """Return one failed message to the queue after a short backoff; RabbitMQ dead-letters
        it at the delivery limit."""
        queues.note_failure(self.queue_name, message, self.delivery_limit, error)
        count = queues.delivery_count(message)
        eventlet.sleep(backoff_seconds(count + 1, queues.MAX_FAILED_BACKOFF_SECONDS))
        message.requeue()


batch_consumer = BatchConsumer.decorator
