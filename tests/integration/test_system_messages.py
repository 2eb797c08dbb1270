"""Deliverable notices as system messages, on the real message stores: posted once per event
(a redelivery changes nothing), in the application's conversation (opened if needed), unread for
both participants and visible in history with kind=system."""

import uuid

import pytest

from kernel.schemas import Principal
from services.applications.deliverables import event_payload
from services.messaging import conversations
from services.messaging.schemas import SYSTEM_SENDER_ID
from tests.integration.test_message_store import BACKENDS
from tests.integration.test_message_store import store as store
from tests.sample_events import deliverable

pytestmark = pytest.mark.integration
assert BACKENDS


def event(**overrides):
    """A deliverable_submitted payload as applications records it."""
    envelope = {"event_id": str(uuid.uuid4()), "occurred_at": "2026-11-20T10:00:00+00:00"}
    return {**envelope, **event_payload(deliverable()), **overrides}


def test_a_notice_is_posted_once_per_event_and_unread_for_both(store):
    submitted = event()
    first = conversations.post_system_message(store, "deliverable_submitted", submitted)
    again = conversations.post_system_message(store, "deliverable_submitted", submitted)
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert again["message"]["id"] == first["message"]["id"]
    message = first["message"]
    assert (message["kind"], message["sender_id"]) == ("system", SYSTEM_SENDER_ID)
    assert message["notice"] == {
        "event": "deliverable_submitted",
        "deliverable_id": submitted["deliverable_id"],
        "status": "submitted",
        "revision": 1,
    }
    assert sorted(first["participants"]) == sorted([submitted["brand_id"], submitted["creator_id"]])
    approved = {**submitted, "event_id": str(uuid.uuid4()), "status": "approved"}
    second = conversations.post_system_message(store, "deliverable_approved", approved)
    assert second["message"]["seq"] == message["seq"] + 1
    creator = Principal(user_id=submitted["creator_id"], role="creator")
    conversation_id = message["conversation_id"]
    view = conversations.get_conversation(store, creator, conversation_id)
    assert (view["unread"], view["application_id"]) == (2, submitted["application_id"])
    history = conversations.history(store, creator, conversation_id, {"after_seq": "0"})
    assert [(m["kind"], m["notice"]["event"]) for m in history["items"]] == [
        ("system", "deliverable_submitted"),
        ("system", "deliverable_approved"),
    ]
    brand = Principal(user_id=submitted["brand_id"], role="brand")
    assert conversations.mark_read(store, brand, conversation_id, {"seq": 2})["unread"] == 0
    assert conversations.get_conversation(store, creator, conversation_id)["unread"] == 2
