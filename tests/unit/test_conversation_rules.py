"""messaging's domain rules on an in-memory store (the pymongo adapter over mongomock)."""

import uuid

import mongomock
import pytest

from kernel.errors import Forbidden, InvalidInput, NotFound
from kernel.schemas import Principal
from services.messaging import conversations
from services.messaging.store import MongoConversationStore


@pytest.fixture
def store():
    return MongoConversationStore.from_client(mongomock.MongoClient())


def ids():
    return {name: str(uuid.uuid4()) for name in ("brand", "creator", "campaign", "application")}


def opened(store):
    who = ids()
    application = {
        "id": who["application"],
        "brand_id": who["brand"],
        "creator_id": who["creator"],
        "campaign_id": who["campaign"],
    }
    conversation = conversations.open_for_application(store, application)["conversation"]
    brand = Principal(user_id=who["brand"], role="brand")
    creator = Principal(user_id=who["creator"], role="creator")
    return conversation, brand, creator


def send(store, principal, conversation, client_msg_id, body="hello"):
    return conversations.send_message(
        store, principal, conversation["id"], {"client_msg_id": client_msg_id, "body": body}
    )


def test_opening_twice_from_event_and_request_gives_one_conversation(store):
    conversation, _brand, _ = opened(store)
    event = {
        "application_id": conversation["application_id"],
        "brand_id": conversation["brand_id"],
        "creator_id": conversation["creator_id"],
        "campaign_id": conversation["campaign_id"],
        "status": "accepted",
    }
    again = conversations.open_for_application(store, event)
    assert again["created"] is False
    assert again["conversation"]["id"] == conversation["id"]
    assert conversation["id"] == conversations.conversation_id_for(conversation["application_id"])


def test_seqs_increase_and_a_resend_returns_the_original(store):
    conversation, brand, creator = opened(store)
    first = send(store, brand, conversation, "a")
    second = send(store, creator, conversation, "a")  # another sender may reuse the id
    resend = send(store, brand, conversation, "a", body="changed")
    assert [first["message"]["seq"], second["message"]["seq"]] == [1, 2]
    assert resend["duplicate"] is True and resend["message"] == first["message"]
    assert first["participants"] == [brand.user_id, creator.user_id]


def test_only_participants_write_and_admins_only_read(store):
    conversation, brand, _ = opened(store)
    outsider = Principal(user_id=str(uuid.uuid4()), role="creator")
    admin = Principal(user_id=str(uuid.uuid4()), role="admin")
    with pytest.raises(NotFound):
        send(store, outsider, conversation, "x")
    with pytest.raises(NotFound):
        conversations.history(store, outsider, conversation["id"], {})
    with pytest.raises(Forbidden):
        send(store, admin, conversation, "x")
    assert conversations.history(store, admin, conversation["id"], {})["items"] == []
    with pytest.raises(NotFound):
        conversations.get_conversation(store, brand, "not-a-uuid")
    assert conversations.list_conversations(store, outsider, {})["items"] == []


def test_bad_input_changes_nothing(store):
    conversation, brand, _ = opened(store)
    for body in (
        {"client_msg_id": "a", "body": ""},
        {"client_msg_id": "a b", "body": "x"},
        {"client_msg_id": "a", "body": "x" * 4001},
        {"client_msg_id": "a", "body": "nul\x00"},
        {"client_msg_id": "a", "body": "x", "extra": 1},
        {"body": "x"},
    ):
        with pytest.raises(InvalidInput):
            conversations.send_message(store, brand, conversation["id"], body)
    assert store.get_conversation(conversation["id"])["last_seq"] == 0
    with pytest.raises(InvalidInput):
        conversations.mark_read(store, brand, conversation["id"], {"seq": "1"})
    with pytest.raises(InvalidInput):
        conversations.history(store, brand, conversation["id"], {"cursor": "garbage"})


def test_history_pages_by_seq_and_unread_follow_reads(store):
    conversation, brand, creator = opened(store)
    for n in range(5):
        send(store, brand, conversation, f"m{n}")
    newest = conversations.history(store, creator, conversation["id"], {"limit": "2"})
    assert [m["seq"] for m in newest["items"]] == [5, 4]
    older = conversations.history(
        store, creator, conversation["id"], {"limit": "2", "cursor": newest["next_cursor"]}
    )
    assert [m["seq"] for m in older["items"]] == [3, 2]
    after = conversations.history(store, creator, conversation["id"], {"after_seq": "3"})
    assert [m["seq"] for m in after["items"]] == [4, 5] and after["next_cursor"] is None
    listed = conversations.list_conversations(store, creator, {})["items"][0]
    assert (listed["unread"], listed["read_seq"], listed["last_seq"]) == (5, 0, 5)
    read = conversations.mark_read(store, creator, conversation["id"], {"seq": 100})
    assert (read["unread"], read["read_seq"]) == (0, 5)  # capped at the last message
    assert conversations.get_conversation(store, brand, conversation["id"])["unread"] == 0


def test_only_brands_open_conversations(store):
    creator = Principal(user_id=str(uuid.uuid4()), role="creator")
    with pytest.raises(Forbidden):
        conversations.check_open_request(creator, {"application_id": str(uuid.uuid4())})
    brand = Principal(user_id=str(uuid.uuid4()), role="brand")
    with pytest.raises(InvalidInput):
        conversations.check_open_request(brand, {"application_id": "nope"})


def test_partners_are_everyone_sharing_a_conversation(store):
    _conversation, brand, creator = opened(store)
    assert conversations.partners(store, brand.user_id) == [creator.user_id]
    assert conversations.partners(store, str(uuid.uuid4())) == []
