"""`@event_handler(source, event_type)`: nameko's SERVICE_POOL event handler on a quorum queue with
a dead-letter queue (dependencies/queues.py), and an error policy that loses nothing.

nameko's own handler acknowledges a message whose handler raised (unless `requeue_on_error`, which
returns it at once, forever): an event that failed once was gone, one that always fails would spin.
Here a handler's error is either
- transient (a store down, `queues.is_transient`): the message is held, unacknowledged, and the
  handler runs again with backoff (up to 30 s apart) until it succeeds; the delivery limit is not
  used up by an outage. While held it occupies one prefetch slot, so an outage slows the
  consumer down instead of draining the queue into failures;
- anything else: the message is returned to the queue after a short backoff, and RabbitMQ
  dead-letters it to `<queue>.dead` once it was returned `AMQP_DELIVERY_LIMIT` times. Later
  messages keep flowing meanwhile (the poison message holds one slot at most).

The queue keeps nameko's name (`evt-<source>-<type>--<service>.<method>`), so RabbitMQ accounts
and dashboards are unchanged; an existing classic queue of that name must be replaced once
(`python -m scripts.migrate_queues`, run by `make migrate`). BROADCAST handlers (ws' per-process
fan-out) stay nameko's: a quorum queue cannot be exclusive or auto-delete.
"""

from functools import partial
from typing import Any

import eventlet
from kombu import Queue
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.containers import WorkerContext
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import ContainerBeingKilled

from dependencies import queues


def event_queue_name(source_service: str, event_type: str, service: str, method: str) -> str:
    """nameko's SERVICE_POOL queue name."""
    return f"evt-{source_service}-{event_type}--{service}.{method}"


class DurableEventHandler(EventHandler):
    def __init__(self, source_service: str, event_type: str, **kwargs: Any) -> None:
        super().__init__(
            source_service, event_type, handler_type=SERVICE_POOL, reliable_delivery=True, **kwargs
        )
        self.delivery_limit = queues.DEFAULT_DELIVERY_LIMIT

    def setup(self) -> None:
        super().setup()  # nameko's classic queue, and the registration with the queue consumer
        config = self.container.config
        service = self.container.service_name
        name = event_queue_name(self.source_service, self.event_type, service, self.method_name)
        self.delivery_limit = queues.delivery_limit(config)
        self.queue = Queue(
            name,
            exchange=self.queue.exchange,
            routing_key=self.event_type,
            durable=True,
            queue_arguments=queues.quorum_arguments(name, service, config),
        )
        queues.declare_dead_letter_with(
            config[AMQP_URI_CONFIG_KEY],
            name,
            service,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )

    def handle_message(self, body: Any, message: Any) -> None:
        self._spawn(body, message, 0)

    def _spawn(self, body: Any, message: Any, attempt: int) -> None:
        handle_result = partial(self._handle_result, body, message, attempt)
        try:
            self.container.spawn_worker(
                self,
                (body,),
                {},
                context_data=self.unpack_message_headers(message),
                handle_result=handle_result,
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def _handle_result(
        self,
        body: Any,
        message: Any,
        attempt: int,
        worker_ctx: WorkerContext,
        result: Any = None,
        exc_info: Any = None,
    ) -> tuple[Any, Any]:
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        name = self.queue.name
        if queues.is_transient(exc_info[1]):
            queues.DELIVERY_FAILURES.labels(name, "transient").inc()
            delay = queues.backoff_seconds(attempt + 1)
            self.container.spawn_managed_thread(
                partial(self._retry_later, delay, body, message, attempt + 1),
                identifier=f"retry:{name}",
            )
        else:
            queues.note_failure(name, message, self.delivery_limit, exc_info[1])
            delay = queues.backoff_seconds(
                queues.delivery_count(message) + 1, queues.MAX_FAILED_BACKOFF_SECONDS
            )
            self.container.spawn_managed_thread(
                partial(self._return_later, delay, message), identifier=f"return:{name}"
            )
        return result, exc_info

    def _retry_later(self, delay: float, body: Any, message: Any, attempt: int) -> None:
        eventlet.sleep(delay)
        self._spawn(body, message, attempt)

    def _return_later(self, delay: float, message: Any) -> None:
        eventlet.sleep(delay)
        self.queue_consumer.requeue_message(message)


event_handler = DurableEventHandler.decorator
