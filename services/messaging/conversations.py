"""Conversations between a brand and a creator, and their messages.

A conversation belongs to one application (one creator on one brand's campaign); its id is derived
from the application id, so opening it twice, from the accepted event and from a brand's request,
in any order or concurrently, yields one conversation. Each message gets the next `seq` of its
conversation from an atomic counter; a re-send with the same client_msg_id returns the stored
message. Only participants read or write a conversation (others get 404, as if it did not
exist); admins read every conversation but do not write.
"""

import datetime as dt
import uuid
from typing import Any

from kernel.errors import Forbidden, InvalidInput, NotFound
from kernel.pagination import decode_cursor, page
from kernel.schemas import Principal, as_response, parse_model
from services.messaging.schemas import (
    MAX_BODY_CHARS,
    SYSTEM_SENDER_ID,
    BatchedSend,
    Conversation,
    ConversationOpen,
    ConversationQuery,
    Message,
    MessageCreate,
    MessageQuery,
    ReadMark,
    SendBatch,
)
from services.messaging.store import ConversationStore, DuplicateMessage

CONVERSATION_NAMESPACE = uuid.UUID("5b3f2a4e-3c1d-4f7e-9a59-6c2f0b8d1e47")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def conversation_id_for(application_id: str) -> str:
    return str(uuid.uuid5(CONVERSATION_NAMESPACE, str(application_id)))


def _uuid_or_404(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"no such {what}") from None


def view(conversation: dict[str, Any], user_id: str) -> dict[str, Any]:
    return as_response(
        Conversation,
        {
            "id": conversation["id"],
            "participants": conversation["participants"],
            "brand_id": conversation["brand_id"],
            "creator_id": conversation["creator_id"],
            "campaign_id": conversation["campaign_id"],
            "application_id": conversation["application_id"],
            "created_at": conversation["created_at"],
            "last_message_at": conversation["last_message_at"],
            "last_seq": conversation.get("last_seq", 0),
            "read_seq": conversation.get("read_seq", {}).get(user_id, 0),
            "unread": conversation.get("unread", {}).get(user_id, 0),
        },
    )


def message_view(message: dict[str, Any]) -> dict[str, Any]:
    return as_response(
        Message,
        {key: message[key] for key in Message.model_fields if key in message},
    )


def open_for_application(store: ConversationStore, application: dict[str, Any]) -> dict[str, Any]:
    """Open (or find) the conversation of an application. `application` is the application as
    the applications service shows it (or its status_changed event). Returns the stored document
    and whether it was created now."""
    application_id = application.get("application_id") or application["id"]
    created_at = now_iso()
    conversation = {
        "id": conversation_id_for(application_id),
        "participants": [application["brand_id"], application["creator_id"]],
        "brand_id": application["brand_id"],
        "creator_id": application["creator_id"],
        "campaign_id": application["campaign_id"],
        "application_id": application_id,
        "created_at": created_at,
        "last_message_at": created_at,
        "last_seq": 0,
        "read_seq": {},
        "unread": {},
    }
    created = store.insert_conversation(conversation)
    stored = store.get_conversation(conversation["id"])
    assert stored is not None
    return {"conversation": stored, "created": created}


def check_open_request(principal: Principal, body: Any) -> ConversationOpen:
    if principal.role != "brand":
        raise Forbidden("only brands open conversations (with a creator who applied)")
    return parse_model(ConversationOpen, body)


def readable(
    store: ConversationStore, principal: Principal, conversation_id: Any
) -> dict[str, Any]:
    """The conversation if the caller may read it; 404 otherwise (no existence leak)."""
    conversation = store.get_conversation(_uuid_or_404(conversation_id, "conversation"))
    if conversation is None or not (
        principal.is_admin or principal.user_id in conversation["participants"]
    ):
        raise NotFound("no such conversation")
    return conversation


def writable(
    store: ConversationStore, principal: Principal, conversation_id: Any
) -> dict[str, Any]:
    conversation = readable(store, principal, conversation_id)
    if principal.user_id not in conversation["participants"]:
        raise Forbidden("only the participants write to a conversation")
    return conversation


def get_conversation(
    store: ConversationStore, principal: Principal, conversation_id: Any
) -> dict[str, Any]:
    return view(readable(store, principal, conversation_id), principal.user_id)


def list_conversations(
    store: ConversationStore, principal: Principal, query: Any
) -> dict[str, Any]:
    params = parse_model(ConversationQuery, query)
    before = None
    if params.cursor:
        value, last_id = decode_cursor(params.cursor)
        if not isinstance(value, str):
            raise _bad_cursor()
        before = (value, last_id)
    owner = None if principal.is_admin else principal.user_id
    rows = store.list_conversations(owner, before, params.limit + 1)
    return page([view(row, principal.user_id) for row in rows], params.limit, "last_message_at")


def send_message(
    store: ConversationStore, principal: Principal, conversation_id: Any, body: Any
) -> dict[str, Any]:
    """Store a message; {message, duplicate, participants, campaign_id}. A re-send of a
    client_msg_id answers the stored message with duplicate=True and stores nothing."""
    request = parse_model(MessageCreate, body)
    conversation = writable(store, principal, conversation_id)
    others = [user for user in conversation["participants"] if user != principal.user_id]
    return _store_once(
        store,
        conversation,
        principal.user_id,
        request.client_msg_id,
        {"body": request.body},
        unread_for=others,
    )


def check_send_batch(sends: Any) -> list[BatchedSend]:
    return parse_model(SendBatch, {"sends": sends}).sends


def by_conversation(batch: list[BatchedSend]) -> dict[str, list[int]]:
    """The positions of each conversation's sends, in the order they came."""
    positions: dict[str, list[int]] = {}
    for index, item in enumerate(batch):
        positions.setdefault(item.conversation_id, []).append(index)
    return positions


def _store_once(
    store: ConversationStore,
    conversation: dict[str, Any],
    sender_id: str,
    client_msg_id: str,
    content: dict[str, Any],
    unread_for: list[str],
) -> dict[str, Any]:
    """The message (`content`: body and what else it shows) with the conversation's next seq,
    unless (conversation, sender, client_msg_id) is stored already: then the stored one, with
    duplicate=True."""
    result = {
        "participants": conversation["participants"],
        "campaign_id": conversation.get("campaign_id"),
        "duplicate": True,
    }
    existing = store.find_by_client_msg_id(conversation["id"], sender_id, client_msg_id)
    if existing is not None:
        return {**result, "message": message_view(existing)}
    message = {
        "id": str(uuid.uuid4()),
        "conversation_id": conversation["id"],
        "seq": store.next_seq(conversation["id"]),
        "sender_id": sender_id,
        "client_msg_id": client_msg_id,
        "created_at": now_iso(),
        **content,
    }
    try:
        store.insert_message(message)
    except DuplicateMessage:
        # The same client_msg_id raced in from another connection: the first one won, and its
        # seq is the answer (the seq taken here stays unused: seqs increase, with rare gaps).
        existing = store.find_by_client_msg_id(conversation["id"], sender_id, client_msg_id)
        if existing is None:
            raise
        return {**result, "message": message_view(existing)}
    store.record_message(
        conversation["id"], message["seq"], sender_id, message["created_at"], unread_for
    )
    return {**result, "duplicate": False, "message": message_view(message)}


DELIVERABLE_EVENTS = (
    "deliverable_submitted",
    "deliverable_approved",
    "deliverable_changes_requested",
)


def deliverable_notice_text(event_type: str, payload: dict[str, Any]) -> str:
    what = f"{payload['type']} on {payload['platform']}"
    if event_type == "deliverable_submitted":
        if payload["revision"] > 1:
            revision = payload["revision"]
            return f"Deliverable resubmitted ({what}, revision {revision}): {payload['url']}"
        return f"Deliverable submitted ({what}): {payload['url']}"
    if event_type == "deliverable_approved":
        return f"Deliverable approved ({what}, revision {payload['revision']})."
    text = f"Changes requested on a deliverable ({what}): {payload.get('note') or ''}"
    return text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - 1] + "\u2026"


def post_system_message(
    store: ConversationStore, event_type: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Tell both parties of an application, in its conversation (opened if it is not yet), what
    happened to a deliverable. Idempotent on the event id: it is the message's client_msg_id
    under the system sender, so a redelivered event finds the stored message (duplicate=True)."""
    conversation = open_for_application(store, payload)["conversation"]
    notice = {
        "body": deliverable_notice_text(event_type, payload),
        "kind": "system",
        "notice": {
            "event": event_type,
            "deliverable_id": payload["deliverable_id"],
            "status": payload["status"],
            "revision": payload["revision"],
        },
    }
    return _store_once(
        store,
        conversation,
        SYSTEM_SENDER_ID,
        f"event:{payload['event_id']}",
        notice,
        # unread for both participants (neither wrote it), as mark_read recounts it
        unread_for=list(conversation["participants"]),
    )


def history(
    store: ConversationStore, principal: Principal, conversation_id: Any, query: Any
) -> dict[str, Any]:
    params = parse_model(MessageQuery, query)
    conversation = readable(store, principal, conversation_id)
    ascending = params.after_seq is not None
    after_seq, before_seq = params.after_seq, None
    if params.cursor:
        value, _ = decode_cursor(params.cursor)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad_cursor()
        if ascending:
            after_seq = max(after_seq or 0, value)
        else:
            before_seq = value
    rows = store.messages(
        conversation["id"],
        after_seq=after_seq,
        before_seq=before_seq,
        limit=params.limit + 1,
        descending=not ascending,
    )
    return page([message_view(row) for row in rows], params.limit, "seq")


def mark_read(
    store: ConversationStore, principal: Principal, conversation_id: Any, body: Any
) -> dict[str, Any]:
    request = parse_model(ReadMark, body)
    conversation = writable(store, principal, conversation_id)
    seq = min(request.seq, int(conversation.get("last_seq", 0)))
    updated = store.mark_read(conversation["id"], principal.user_id, seq)
    if updated is None:
        raise NotFound("no such conversation")
    return view(updated, principal.user_id)


def partners(store: ConversationStore, user_id: str, limit: int = 500) -> list[str]:
    """Everyone who shares a conversation with `user_id` (whom their presence concerns)."""
    found: set[str] = set()
    for conversation in store.list_conversations(user_id, None, limit):
        found.update(conversation["participants"])
    found.discard(user_id)
    return sorted(found)


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor is not valid",
        [{"field": "cursor", "message": "not a cursor from this list", "code": "cursor"}],
    )
