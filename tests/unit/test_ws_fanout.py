"""The hub's broadcast handlers: handled one at a time, in order (on the broker:
tests/integration/test_ws_fanout.py)."""

from typing import Any

from nameko.events import BROADCAST

from ws.fanout import (
    InOrderBroadcastHandler,
    InOrderQueueConsumer,
    fanout_service,
)
from ws.hub import Hub


class RecordingProvider:
    def __init__(self) -> None:
        self.started: list[tuple[Any, Any]] = []

    def handle_message(self, body: Any, message: Any) -> None:
        self.started.append((body, message))


def test_each_event_is_started_from_the_consumer_in_arrival_order():
    consumer = InOrderQueueConsumer()
    provider = RecordingProvider()
    for n in range(3):
        consumer.handle_message(provider, {"n": n}, f"message-{n}")
    # started by the consumer itself (no greenthread in between): already there, in order
    assert provider.started == [({"n": n}, f"message-{n}") for n in range(3)]


def test_every_fanout_handler_is_an_in_order_broadcast():
    service = fanout_service(Hub())
    handlers = [
        entrypoint
        for name in dir(service)
        for entrypoint in getattr(getattr(service, name), "nameko_entrypoints", ())
    ]
    assert len(handlers) == 5
    for handler in handlers:
        assert isinstance(handler, InOrderBroadcastHandler)
        assert handler.handler_type == BROADCAST and handler.reliable_delivery is False
        assert isinstance(handler.queue_consumer, InOrderQueueConsumer)
