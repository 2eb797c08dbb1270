"""messaging's MongoDB layout as sharding needs it (services/messaging/store.py SHARD_KEYS): the
indexes the code needs are created by the store when it opens, every statement on `messages`
names one conversation (the shard key, so mongos targets one shard), and both unique keys start
with it. Checked on the pymongo adapter over mongomock, recording what reaches each collection."""

import uuid
from typing import Any

import mongomock
import pytest

from services.messaging.store import DATABASE, SHARD_KEYS, MongoConversationStore

SHARD_KEY = SHARD_KEYS["messages"]


class Recording:
    """A collection that records the filter (or document) of every call."""

    def __init__(self, collection: Any, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self._collection = collection
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)
        if name in ("create_index", "index_information"):
            return method

        def recorded(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], dict):
                self._calls.append((name, args[0]))
            return method(*args, **kwargs)

        return recorded


@pytest.fixture
def client() -> mongomock.MongoClient:
    return mongomock.MongoClient()


def test_the_store_creates_the_indexes_it_needs_when_it_opens(client):
    MongoConversationStore.from_client(client)
    messages = client[DATABASE]["messages"].index_information()
    conversations = client[DATABASE]["conversations"].index_information()
    assert messages["uq_conversation_seq"]["unique"] is True
    assert messages["uq_conversation_sender_client_msg"]["unique"] is True
    assert messages["uq_conversation_seq"]["key"] == [("conversation_id", 1), ("seq", 1)]
    assert conversations["ix_participant_activity"]["key"] == [
        ("participants", 1),
        ("last_message_at", -1),
        ("_id", -1),
    ]
    assert "ix_activity" in conversations
    MongoConversationStore.from_client(client)  # reopening (another replica) is harmless


def test_unique_keys_of_messages_start_with_the_shard_key(client):
    MongoConversationStore.from_client(client)
    for name, index in client[DATABASE]["messages"].index_information().items():
        if index.get("unique"):
            fields = [field for field, _ in index["key"]]
            assert tuple(fields[: len(SHARD_KEY)]) == SHARD_KEY, name


def test_every_statement_on_messages_names_one_conversation(client):
    store = MongoConversationStore.from_client(client)
    calls: list[tuple[str, dict[str, Any]]] = []
    store.messages_ = Recording(store.messages_, calls)
    store.conversations = Recording(store.conversations, [])
    users = [str(uuid.uuid4()), str(uuid.uuid4())]
    conversation_id = str(uuid.uuid4())
    at = "2026-01-01T00:00:00.000000+00:00"
    store.insert_conversation(
        {"id": conversation_id, "participants": users, "last_message_at": at, "last_seq": 0}
    )
    for client_msg_id in ("a", "b"):
        seq = store.next_seq(conversation_id)
        store.insert_message(
            {
                "id": str(uuid.uuid4()),
                "conversation_id": conversation_id,
                "seq": seq,
                "sender_id": users[0],
                "client_msg_id": client_msg_id,
                "created_at": at,
            }
        )
        store.record_message(conversation_id, seq, users[0], at, users[1:])
    store.find_by_client_msg_id(conversation_id, users[0], "a")
    store.messages(conversation_id, after_seq=0, limit=10)
    store.messages(conversation_id, before_seq=2, limit=10, descending=True)
    store.mark_read(conversation_id, users[1], 2)

    operations = {name for name, _ in calls}
    assert {"insert_one", "find", "find_one", "count_documents"} <= operations
    for name, statement in calls:
        assert isinstance(statement.get("conversation_id"), str), (name, statement)


def test_statements_on_conversations_name_one_by_id_except_a_users_listing(client):
    store = MongoConversationStore.from_client(client)
    calls: list[tuple[str, dict[str, Any]]] = []
    store.conversations = Recording(store.conversations, calls)
    conversation_id = str(uuid.uuid4())
    user = str(uuid.uuid4())
    at = "2026-01-01T00:00:00.000000+00:00"
    store.insert_conversation(
        {"id": conversation_id, "participants": [user], "last_message_at": at, "last_seq": 0}
    )
    store.next_seq(conversation_id)
    store.record_message(conversation_id, 1, user, at, [])
    store.mark_read(conversation_id, user, 1)
    store.get_conversation(conversation_id)
    by_id = [statement for name, statement in calls if name != "insert_one"]
    assert by_id and all(statement == {"_id": conversation_id} for statement in by_id)
    calls.clear()
    assert [c["id"] for c in store.list_conversations(user, None, 10)] == [conversation_id]
    # a participant's listing reads ix_participant_activity (on every shard, were it sharded)
    assert calls == [("find", {"$and": [{"participants": user}]})]
