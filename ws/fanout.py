"""Fan-out across ws processes through RabbitMQ. Every ws process runs a small Nameko container
whose handlers are BROADCAST with reliable_delivery=False: each process gets its own auto-delete
queue bound to the events, so every event reaches every process, and a process that goes away
takes its queue with it (its clients reconnect elsewhere and sync from the store).

Events come from messaging (`message_sent`, `conversation_read`), from auth (`session_revoked`:
the session's sockets close with 4401) and from ws processes themselves (`typing`, `presence`:
ephemeral, never stored)."""

from typing import Any

from kombu import Exchange
from nameko.amqp.publish import Publisher
from nameko.constants import DEFAULT_SERIALIZER, SERIALIZER_CONFIG_KEY
from nameko.events import BROADCAST, EventHandler
from nameko.messaging import QueueConsumer
from nameko.standalone.events import get_event_exchange

from kernel.events import ConversationRead, MessageSent, Presence, SessionRevoked, Typing, new_event
from ws.hub import Hub

SOURCE = "ws"


class InOrderQueueConsumer(QueueConsumer):
    """nameko's consumer, with its broadcast queues consumed without acknowledgements, that
    starts each event's worker from its own greenthread, in the order the events arrive.

    No acks: a hub's queue is its own and goes with it, so an event the broker handed a hub
    that then died was for sockets that died with it (their clients reconnect elsewhere and
    sync from the store); an ack per event was a quarter of the hub's CPU at 500 msg/s, and
    acked delivery with a prefetch of one (nameko's max_workers) cost a broker round trip per
    event. With one worker, starting the next event waits until the previous handler has
    returned, so events are handled one at a time and in order (nameko's consumer starts a
    greenthread per message, whose order among many waiting would be the scheduler's); while
    it waits the consumer reads nothing, so a busy hub leaves the backlog in the broker, not in
    its memory."""

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        def without_acks(*args: Any, **kwargs: Any) -> Any:
            return consumer_cls(*args, no_ack=True, **kwargs)

        return super().get_consumers(without_acks, channel)

    def handle_message(self, provider: Any, body: Any, message: Any) -> None:
        provider.handle_message(body, message)


class InOrderBroadcastHandler(EventHandler):
    queue_consumer = InOrderQueueConsumer()


def fanout_service(hub: Hub) -> type:
    def broadcast(source: str, event_type: str) -> Any:
        return InOrderBroadcastHandler.decorator(
            source, event_type, handler_type=BROADCAST, reliable_delivery=False
        )

    class WsFanout:
        name = "ws_fanout"

        @broadcast("messaging", "message_sent")
        def on_message_sent(self, payload: dict[str, Any]) -> None:
            payload = MessageSent.read_json(payload)
            hub.on_message_sent(payload)

        @broadcast("messaging", "conversation_read")
        def on_conversation_read(self, payload: dict[str, Any]) -> None:
            payload = ConversationRead.read_json(payload)
            hub.on_conversation_read(payload)

        @broadcast(SOURCE, "typing")
        def on_typing(self, payload: dict[str, Any]) -> None:
            payload = Typing.read_json(payload)
            hub.on_typing(payload)

        @broadcast(SOURCE, "presence")
        def on_presence(self, payload: dict[str, Any]) -> None:
            payload = Presence.read_json(payload)
            hub.on_presence(payload)

        @broadcast("auth", "session_revoked")
        def on_session_revoked(self, payload: dict[str, Any]) -> None:
            payload = SessionRevoked.read_json(payload)
            hub.on_session_revoked(payload)

    return WsFanout


class EventPublisher:
    """Publishes ws's own events (typing, presence) to its event exchange."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.exchange: Exchange = get_event_exchange(SOURCE, config)
        self.publisher = Publisher(
            config["AMQP_URI"],
            serializer=config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            declare=[self.exchange],
        )

    def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        self.publisher.publish(
            new_event(SOURCE, event_type, payload), exchange=self.exchange, routing_key=event_type
        )
