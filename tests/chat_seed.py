"""Conversations written straight into an embedded message store, before messaging starts on it
(tests and bench.ws)."""

import uuid

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
