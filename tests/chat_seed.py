"""Conversations written straight into an embedded message store, before messaging starts on it,
and messaging's `message_sent` event as it publishes it (tests and bench.ws)."""

import datetime as dt
import uuid
from typing import Any

from kernel.events import new_event
from services.messaging import conversations
from services.messaging.store import EmbeddedConversationStore


def seed_conversations(directory: str, pairs: int) -> tuple[list[str], list[tuple[str, str]]]:
    """`pairs` conversations, each between a new brand and a new creator: their ids and the
    (brand, creator) of each."""
    store = EmbeddedConversationStore(directory)
    ids, users = [], []
    for _ in range(pairs):
        brand, creator = str(uuid.uuid4()), str(uuid.uuid4())
        application = {
            "id": str(uuid.uuid4()),
            "brand_id": brand,
            "creator_id": creator,
            "campaign_id": str(uuid.uuid4()),
        }
        ids.append(conversations.open_for_application(store, application)["conversation"]["id"])
        users.append((brand, creator))
    store.close()
    return ids, users


def message_sent_event(
    conversation_id: str, brand: str, creator: str, seq: int = 1, message_id: str | None = None
) -> dict[str, Any]:
    """Exactly what messaging publishes when `brand` sent a message to `creator` (a hub drops an
    event that breaks its contract)."""
    message_id = message_id or str(uuid.uuid4())
    message = {
        "id": message_id,
        "conversation_id": conversation_id,
        "seq": seq,
        "sender_id": brand,
        "body": f"message {seq}",
        "client_msg_id": message_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "kind": "user",
    }
    return new_event(
        "messaging",
        "message_sent",
        {
            "conversation_id": conversation_id,
            "campaign_id": None,
            "sender_id": brand,
            "sender_role": "brand",
            "seq": seq,
            "participants": [brand, creator],
            "message": message,
            "origin": None,
        },
    )
