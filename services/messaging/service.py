"""messaging: conversations and messages. Entrypoints only; logic in conversations.py, storage in
store.py. After a message is stored it is published as `message_sent` (every ws process consumes
it as a broadcast and pushes it to the participants' sockets)."""

import logging
from typing import Any

import eventlet
import prometheus_client
from nameko.exceptions import serialize
from nameko.rpc import rpc

from dependencies.caller import Caller, TokenlessEventDispatcher
from dependencies.event_handlers import event_handler
from dependencies.health import HealthRpc
from dependencies.metrics import Metrics
from dependencies.rpc import DeadlineRpcProxy
from kernel.errors import DomainError, ServiceUnavailable, Unauthenticated
from kernel.events import (
    ApplicationStatusChanged,
    DeliverableApproved,
    DeliverableChangesRequested,
    DeliverableSubmitted,
    new_event,
)
from kernel.schemas import Principal
from services.messaging import conversations
from services.messaging.ordering import KeyedLocks
from services.messaging.store_provider import MessageStore

log = logging.getLogger(__name__)
domain_rpc = rpc(expected_exceptions=DomainError)
RPC_TIMEOUT_SECONDS = 10.0
# Conversations of one send_messages call stored at the same time (their writes overlap).
SEND_BATCH_CONCURRENCY = 16
MESSAGES_SENT = prometheus_client.Counter("messages_sent_total", "Messages stored (not re-sends).")
SYSTEM_MESSAGES = prometheus_client.Counter(
    "system_messages_total", "System messages posted into conversations, by event.", ["event"]
)

# Sends to one conversation are stored and published one at a time, so this process publishes a
# conversation's messages in seq order (consumers still order by seq across replicas).
conversation_order = KeyedLocks()


class MessagingService(HealthRpc):
    name = "messaging"

    store = MessageStore()
    metrics = Metrics()
    caller = Caller()
    dispatch = TokenlessEventDispatcher()
    applications_rpc = DeadlineRpcProxy("applications", timeout_seconds=RPC_TIMEOUT_SECONDS)

    @domain_rpc
    def open_conversation(self, body: Any) -> dict[str, Any]:
        """A brand opens the conversation of an application to one of its campaigns."""
        caller = self.caller.principal()
        request = conversations.check_open_request(caller, body)
        application = self.applications_rpc.get_application(str(request.application_id))
        opened = conversations.open_for_application(self.store, application)
        return {
            "conversation": conversations.view(opened["conversation"], caller.user_id),
            "created": opened["created"],
        }

    @domain_rpc
    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        return conversations.get_conversation(self.store, self.caller.principal(), conversation_id)

    @domain_rpc
    def list_conversations(self, query: Any) -> dict[str, Any]:
        return conversations.list_conversations(self.store, self.caller.principal(), query)

    @domain_rpc
    def send_message(
        self,
        conversation_id: str,
        body: Any,
        origin: str | None = None,
    ) -> dict[str, Any]:
        """`origin` names the sending socket (ws): it gets an ack, not the message again."""
        return self._send(self.caller.principal(), conversation_id, body, origin)

    @domain_rpc
    def send_messages(self, sends: Any) -> list[dict[str, Any]]:
        """Several sockets' sends in one call (ws batches what its sockets send at the same
        moment): each acts for the owner of its own `token`, checked like a call's token, and
        is answered alone, in order: {"sent": {message, duplicate}} or {"error": <nameko's
        serialized DomainError>}. A conversation's sends are stored in their order here."""
        batch = conversations.check_send_batch(sends)
        answers: list[dict[str, Any]] = [{} for _ in batch]
        unavailable = ServiceUnavailable("the message could not be stored; send it again")
        try:
            senders = self.caller.principals_of([item.token for item in batch])
        except Exception:
            log.exception("checking the tokens of a batch of %d sends failed", len(batch))
            return [{"error": serialize(unavailable)} for _ in batch]

        def send_in_order(indexes: list[int]) -> None:
            for index in indexes:
                item, sender = batch[index], senders[index]
                if isinstance(sender, Unauthenticated):
                    answers[index] = {"error": serialize(sender)}
                    continue
                try:
                    sent = self._send(sender, item.conversation_id, item.body, item.origin)
                    answers[index] = {"sent": sent}
                except DomainError as error:
                    answers[index] = {"error": serialize(error)}
                except Exception:
                    log.exception("a batched send to %s failed", item.conversation_id)
                    answers[index] = {"error": serialize(unavailable)}

        pool = eventlet.GreenPool(SEND_BATCH_CONCURRENCY)
        for indexes in conversations.by_conversation(batch).values():
            pool.spawn_n(send_in_order, indexes)
        pool.waitall()
        return answers

    def _send(
        self, caller: Principal, conversation_id: Any, body: Any, origin: str | None
    ) -> dict[str, Any]:
        with conversation_order.hold(str(conversation_id)):
            sent = conversations.send_message(self.store, caller, conversation_id, body)
            if not sent["duplicate"]:
                self._publish(sent, caller.role, origin)
                self.metrics.count_on_success(MESSAGES_SENT)
        return {"message": sent["message"], "duplicate": sent["duplicate"]}

    def _publish(self, sent: dict[str, Any], sender_role: str, origin: str | None) -> None:
        message = sent["message"]
        self.dispatch(
            "message_sent",
            new_event(
                self.name,
                "message_sent",
                {
                    # the facts analytics' funnel reads (time to first reply)
                    "conversation_id": message["conversation_id"],
                    "campaign_id": sent["campaign_id"],
                    "sender_id": message["sender_id"],
                    "sender_role": sender_role,
                    "seq": message["seq"],
                    # what the ws hubs deliver
                    "participants": sent["participants"],
                    "message": message,
                    "origin": origin,
                },
            ),
        )

    @domain_rpc
    def history(self, conversation_id: str, query: Any) -> dict[str, Any]:
        return conversations.history(self.store, self.caller.principal(), conversation_id, query)

    @domain_rpc
    def mark_read(self, conversation_id: str, body: Any) -> dict[str, Any]:
        caller = self.caller.principal()
        conversation = conversations.mark_read(self.store, caller, conversation_id, body)
        self.dispatch(
            "conversation_read",
            new_event(
                self.name,
                "conversation_read",
                {
                    "conversation_id": conversation["id"],
                    "participants": conversation["participants"],
                    "user_id": caller.user_id,
                    "seq": conversation["read_seq"],
                },
            ),
        )
        return conversation

    @domain_rpc
    def partners(self) -> list[str]:
        """Users sharing a conversation with the caller (ws tells them about its presence)."""
        return conversations.partners(self.store, self.caller.principal().user_id)

    @event_handler("applications", "status_changed")
    def on_application_status_changed(self, payload: dict[str, Any]) -> None:
        payload = ApplicationStatusChanged.read_json(payload)
        # Idempotent by construction: the conversation id derives from the application id and
        # is inserted only if absent, so a redelivered event finds it and changes nothing.
        if payload.get("status") == "accepted":
            conversations.open_for_application(self.store, payload)

    # A deliverable's state change becomes a system message in the application's conversation,
    # delivered live like any message (sender_role "system": not a reply in analytics' funnel).

    @event_handler("applications", "deliverable_submitted")
    def on_deliverable_submitted(self, payload: dict[str, Any]) -> None:
        payload = DeliverableSubmitted.read_json(payload)
        self._post_notice("deliverable_submitted", payload)

    @event_handler("applications", "deliverable_approved")
    def on_deliverable_approved(self, payload: dict[str, Any]) -> None:
        payload = DeliverableApproved.read_json(payload)
        self._post_notice("deliverable_approved", payload)

    @event_handler("applications", "deliverable_changes_requested")
    def on_deliverable_changes_requested(self, payload: dict[str, Any]) -> None:
        payload = DeliverableChangesRequested.read_json(payload)
        self._post_notice("deliverable_changes_requested", payload)

    def _post_notice(self, event_type: str, payload: dict[str, Any]) -> None:
        conversation_id = conversations.conversation_id_for(payload["application_id"])
        with conversation_order.hold(conversation_id):
            sent = conversations.post_system_message(self.store, event_type, payload)
            if not sent["duplicate"]:
                self._publish(sent, "system", None)
                self.metrics.count_on_success(SYSTEM_MESSAGES.labels(event=event_type))
