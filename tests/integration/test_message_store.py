"""The store contract: what messaging relies on, run against every backend available here.

- embedded: montydb on disk (the local and CI default), in a temporary directory;
- pymongo adapter over mongomock (this machine has no MongoDB server; mongomock enforces unique
  indexes and raises pymongo's DuplicateKeyError, so the adapter's error mapping is exercised);
- a real MongoDB when TEST_MONGO_URL=mongodb://... is set.
"""

import os
import uuid

import pytest

from services.messaging.store import (
    DuplicateMessage,
    EmbeddedConversationStore,
    MongoConversationStore,
    open_store,
)

BACKENDS = ["embedded", "pymongo-mongomock"] + (
    ["mongodb"] if os.environ.get("TEST_MONGO_URL") else []
)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "embedded":
        store = EmbeddedConversationStore(str(tmp_path / "mongo"))
    elif request.param == "pymongo-mongomock":
        import mongomock

        store = MongoConversationStore.from_client(mongomock.MongoClient())
    else:
        url = os.environ["TEST_MONGO_URL"].rstrip("/") + f"_{uuid.uuid4().hex[:8]}"
        store = open_store(url)
    yield store
    if request.param == "mongodb":
        store.client.drop_database(store.conversations.database.name)
    store.close()


def conversation(at="2026-01-01T00:00:00.000000+00:00", users=None):
    users = users or [str(uuid.uuid4()), str(uuid.uuid4())]
    return {
        "id": str(uuid.uuid4()),
        "participants": users,
        "brand_id": users[0],
        "creator_id": users[1],
        "campaign_id": str(uuid.uuid4()),
        "application_id": str(uuid.uuid4()),
        "created_at": at,
        "last_message_at": at,
        "last_seq": 0,
        "read_seq": {},
        "unread": {},
    }


def message(conv, seq, sender, client_msg_id=None, body="hi"):
    return {
        "id": str(uuid.uuid4()),
        "conversation_id": conv["id"],
        "seq": seq,
        "sender_id": sender,
        "client_msg_id": client_msg_id or f"c{seq}",
        "body": body,
        "created_at": f"2026-01-01T00:00:{seq:02d}.000000+00:00",
    }


def test_a_conversation_is_inserted_once(store):
    conv = conversation()
    assert store.insert_conversation(conv) is True
    assert store.insert_conversation({**conv, "campaign_id": "other"}) is False
    assert store.get_conversation(conv["id"])["campaign_id"] == conv["campaign_id"]
    assert store.get_conversation(str(uuid.uuid4())) is None


def test_seq_counter_increments_atomically_per_conversation(store):
    first, second = conversation(), conversation()
    store.insert_conversation(first)
    store.insert_conversation(second)
    assert [store.next_seq(first["id"]) for _ in range(3)] == [1, 2, 3]
    assert store.next_seq(second["id"]) == 1
    with pytest.raises(KeyError):
        store.next_seq(str(uuid.uuid4()))


def test_seq_is_unique_per_conversation(store):
    conv = conversation()
    store.insert_conversation(conv)
    sender = conv["participants"][0]
    store.insert_message(message(conv, 1, sender, "a"))
    with pytest.raises(DuplicateMessage):
        store.insert_message(message(conv, 1, sender, "b"))
    other = conversation()
    store.insert_conversation(other)
    store.insert_message(message(other, 1, sender, "a"))  # same seq, other conversation: fine


def test_client_msg_id_is_unique_per_sender_and_conversation(store):
    conv = conversation()
    store.insert_conversation(conv)
    brand, creator = conv["participants"]
    store.insert_message(message(conv, 1, brand, "same"))
    with pytest.raises(DuplicateMessage):
        store.insert_message(message(conv, 2, brand, "same"))
    store.insert_message(message(conv, 3, creator, "same"))  # another sender may reuse it
    found = store.find_by_client_msg_id(conv["id"], brand, "same")
    assert found["seq"] == 1
    assert store.find_by_client_msg_id(conv["id"], brand, "missing") is None
    assert [m["seq"] for m in store.messages(conv["id"], limit=10)] == [1, 3]


def test_messages_page_by_seq_in_both_directions(store):
    conv = conversation()
    store.insert_conversation(conv)
    sender = conv["participants"][0]
    for seq in range(1, 11):
        store.insert_message(message(conv, seq, sender))
    assert [m["seq"] for m in store.messages(conv["id"], after_seq=7, limit=10)] == [8, 9, 10]
    assert [m["seq"] for m in store.messages(conv["id"], limit=3, descending=True)] == [10, 9, 8]
    newest_before = store.messages(conv["id"], before_seq=5, limit=2, descending=True)
    assert [m["seq"] for m in newest_before] == [4, 3]
    window = store.messages(conv["id"], after_seq=2, before_seq=6, limit=10)
    assert [m["seq"] for m in window] == [3, 4, 5]
    assert set(window[0]) >= {"id", "conversation_id", "seq", "sender_id", "client_msg_id", "body"}


def test_unread_counts_per_participant(store):
    conv = conversation()
    store.insert_conversation(conv)
    brand, creator = conv["participants"]
    for seq, sender in [(1, brand), (2, brand), (3, creator), (4, brand)]:
        store.insert_message(message(conv, seq, sender))
        other = creator if sender == brand else brand
        store.record_message(
            conv["id"], seq, sender, f"2026-01-02T00:00:0{seq}.000000+00:00", [other]
        )
    stored = store.get_conversation(conv["id"])
    assert stored["unread"] == {creator: 3, brand: 1}
    assert stored["last_message_at"] == "2026-01-02T00:00:04.000000+00:00"
    assert stored["read_seq"][brand] == 4
    assert stored["read_seq"][creator] == 3
    # the creator reads up to 2: only the brand's message 4 is left unread (3 was its own)
    after = store.mark_read(conv["id"], creator, 2)
    assert after["unread"][creator] == 1
    assert after["read_seq"][creator] == 3  # a read marker never moves back
    after = store.mark_read(conv["id"], creator, 4)
    assert after["unread"][creator] == 0 and after["read_seq"][creator] == 4
    assert store.mark_read(str(uuid.uuid4()), creator, 1) is None


def test_conversations_list_newest_activity_first_with_keyset(store):
    user = str(uuid.uuid4())
    convs = []
    for minute in range(5):
        conv = conversation(f"2026-01-01T00:0{minute}:00.000000+00:00", [user, str(uuid.uuid4())])
        store.insert_conversation(conv)
        convs.append(conv)
    store.insert_conversation(conversation())  # someone else's
    listed = store.list_conversations(user, None, 3)
    assert [c["id"] for c in listed] == [c["id"] for c in reversed(convs)][:3]
    last = listed[-1]
    rest = store.list_conversations(user, (last["last_message_at"], last["id"]), 10)
    assert [c["id"] for c in rest] == [convs[1]["id"], convs[0]["id"]]
    assert len(store.list_conversations(None, None, 100)) == 6


def test_embedded_data_survives_reopening(tmp_path):
    directory = str(tmp_path / "mongo")
    store = EmbeddedConversationStore(directory)
    conv = conversation()
    store.insert_conversation(conv)
    store.next_seq(conv["id"])
    store.insert_message(message(conv, 1, conv["participants"][0]))
    store.close()
    reopened = open_store(f"embedded://{directory}")
    assert reopened.get_conversation(conv["id"])["last_seq"] == 1
    assert [m["seq"] for m in reopened.messages(conv["id"], limit=5)] == [1]
    with pytest.raises(DuplicateMessage):
        reopened.insert_message(message(conv, 1, conv["participants"][0], "other"))
    reopened.close()


def _send(store, conv, seq, sender):
    store.next_seq(conv["id"])
    sent = message(conv, seq, sender)
    store.insert_message(sent)
    others = [user for user in conv["participants"] if user != sender]
    store.record_message(conv["id"], seq, sender, sent["created_at"], others)


def test_embedded_counters_after_a_crash_are_those_of_the_stored_messages(tmp_path):
    """A send writes only the message; the counters are rebuilt from the messages written after
    the last state document (here: a mark_read), as if the process had died without closing."""
    directory = str(tmp_path / "mongo")
    store = EmbeddedConversationStore(directory)
    conv = conversation()
    store.insert_conversation(conv)
    brand, creator = conv["participants"]
    for seq, sender in [(1, brand), (2, creator), (3, brand)]:
        _send(store, conv, seq, sender)
    store.mark_read(conv["id"], creator, 1)  # writes the state: 3 messages recorded
    for seq, sender in [(4, brand), (5, brand), (6, creator)]:
        _send(store, conv, seq, sender)
    before = store.get_conversation(conv["id"])
    # no close(): nothing more is written at exit anyway
    reopened = EmbeddedConversationStore(directory)
    after = reopened.get_conversation(conv["id"])
    assert after == before
    assert after["last_seq"] == 6
    assert after["unread"] == {creator: 3, brand: 2}
    assert after["read_seq"] == {brand: 5, creator: 6}
    assert after["last_message_at"] == "2026-01-01T00:00:06.000000+00:00"
    # and it goes on from there: the next seq, and a marker that still never moves back
    assert reopened.next_seq(conv["id"]) == 7
    assert reopened.mark_read(conv["id"], brand, 6)["unread"][brand] == 0
    reopened.close()
    store.close()


def test_embedded_state_written_at_every_message_is_not_counted_twice(tmp_path):
    """A directory from before the state document carried `recorded_seq`: its counters were
    written with every message and are taken as they are."""
    directory = str(tmp_path / "mongo")
    store = EmbeddedConversationStore(directory)
    conv = conversation()
    store.insert_conversation(conv)
    brand, creator = conv["participants"]
    for seq in (1, 2):
        _send(store, conv, seq, brand)
    state = {
        "last_seq": 2,
        "last_message_at": "2026-01-01T00:00:02.000000+00:00",
        "read_seq": {brand: 2},
        "unread": {creator: 2},
    }
    store._save_state(conv["id"], state)  # what the previous version left
    store.close()
    reopened = EmbeddedConversationStore(directory)
    stored = reopened.get_conversation(conv["id"])
    assert stored["unread"] == {creator: 2} and stored["last_seq"] == 2
    reopened.close()


def test_unknown_url_scheme_is_refused():
    with pytest.raises(ValueError, match="MONGO_URL"):
        open_store("postgresql://localhost/x")
