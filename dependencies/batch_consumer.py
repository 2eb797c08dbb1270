"""`@batch_consumer(queue)`: a Nameko entrypoint that hands a queue's messages to the service in
batches (by size or age, whichever first) and acknowledges them only after the worker succeeded.

Nameko's `@consume` runs one worker per message and acknowledges it when the worker ends; a
writer that inserts thousands of rows at once needs the messages of many requests together. A
failed batch stays unacknowledged and is retried with backoff (same messages, `retry=True`);
if the process dies meanwhile RabbitMQ redelivers them. Delivery is at least once.
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
from nameko.extensions import Entrypoint

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 0.5


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


def backoff_seconds(attempt: int) -> float:
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempt - 1))


class BatchConsumer(Entrypoint):
    """The decorated method is called as `method(bodies, retry)`: the message bodies of one
    batch, and whether these messages were tried before (a failed attempt or a redelivery).
    `count(body)` says how many items a body holds, for the size limit."""

    def __init__(
        self,
        queue_name: str,
        count: Callable[[Any], int] = lambda body: 1,
        **kwargs: Any,
    ) -> None:
        self.queue_name = queue_name
        self.count = count
        self.running = False
        self.idle = Event()
        super().__init__(**kwargs)

    def setup(self) -> None:
        config = self.container.config
        settings = config.get("ANALYTICS", {})
        self.amqp_uri = config["AMQP_URI"]
        self.max_items = int(settings.get("INSERT_BATCH_EVENTS", 10000))
        self.max_wait = float(settings.get("INSERT_BATCH_SECONDS", 1.0))
        self.prefetch = int(settings.get("INSERT_PREFETCH_MESSAGES", 200))

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
                log.error("dropping a malformed message from %s", self.queue_name)
                message.reject(requeue=False)
                return
            buffer.add(message, size)

        with Connection(self.amqp_uri) as connection:
            channel = connection.channel()
            channel.basic_qos(0, self.prefetch, False)
            queue = Queue(self.queue_name, durable=True, channel=channel)
            queue.declare()
            with Consumer(channel, [queue], callbacks=[receive], accept=["json"]):
                while self.running:
                    if buffer.ready():
                        self._deliver(buffer.take())
                        continue
                    due_in = buffer.time_left()
                    with contextlib.suppress(TimeoutError):  # nothing arrived in time
                        connection.drain_events(
                            timeout=1.0 if due_in is None else max(due_in, 0.01)
                        )

    def _deliver(self, messages: list[Message]) -> None:
        """Run the worker until it succeeds, then acknowledge; while it fails nothing new is
        read (the prefetch window is full), so a ClickHouse outage queues up in RabbitMQ."""
        bodies = [message.decode() for message in messages]
        retry = any(message.delivery_info.get("redelivered") for message in messages)
        attempt = 0
        while True:
            outcome: Event = Event()

            def handle_result(
                worker_ctx: Any, result: Any, exc_info: Any, outcome: Event = outcome
            ) -> tuple[Any, Any]:
                outcome.send(exc_info)
                return result, exc_info

            self.container.spawn_worker(self, (bodies, retry), {}, handle_result=handle_result)
            if outcome.wait() is None:
                for message in messages:
                    message.ack()
                return
            if not self.running:
                return  # stopping: unacknowledged, RabbitMQ hands the batch out again
            attempt += 1
            retry = True
            log.warning("batch of %d messages failed (attempt %d)", len(messages), attempt)
            eventlet.sleep(backoff_seconds(attempt))


batch_consumer = BatchConsumer.decorator
