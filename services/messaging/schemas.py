"""Conversation and message bodies, views and queries (HTTP, RPC and the ws protocol)."""

import uuid
from typing import Any, Literal

from pydantic import Field

from kernel.schemas import Cursor, QueryModel, StrictModel

MAX_BODY_CHARS = 4000
CLIENT_MSG_ID = r"^[A-Za-z0-9._:-]{1,64}$"


class ConversationOpen(StrictModel):
    """A brand opens a conversation with a creator who applied to one of its campaigns."""

    application_id: uuid.UUID = Field(strict=False)


class MessageCreate(StrictModel):
    client_msg_id: str = Field(
        pattern=CLIENT_MSG_ID,
        description="chosen by the client, unique per sender and conversation: a re-send "
        "with the same value returns the original message instead of storing a second one",
    )
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS)


MAX_SEND_BATCH = 200


class BatchedSend(StrictModel):
    """One socket's send inside ws's send_messages call: it acts for the owner of `token`."""

    token: str = Field(min_length=1, max_length=8192)
    conversation_id: str = Field(max_length=64)
    body: dict[str, Any] = Field(description="as for send_message: client_msg_id and body")
    origin: str | None = Field(default=None, max_length=256)


class SendBatch(StrictModel):
    sends: list[BatchedSend] = Field(min_length=1, max_length=MAX_SEND_BATCH)


class ReadMark(StrictModel):
    seq: int = Field(ge=0, le=2**53, description="everything up to this seq has been read")


class Conversation(StrictModel):
    id: uuid.UUID
    participants: list[uuid.UUID]
    brand_id: uuid.UUID
    creator_id: uuid.UUID
    campaign_id: uuid.UUID
    application_id: uuid.UUID
    created_at: str
    last_message_at: str
    last_seq: int = Field(description="seq of the newest message (0: none yet)")
    read_seq: int = Field(description="the caller's read marker")
    unread: int = Field(description="messages from others after the caller's read marker")


class ConversationPage(StrictModel):
    items: list[Conversation]
    next_cursor: str | None


SYSTEM_SENDER_ID = "00000000-0000-0000-0000-000000000000"


class SystemNotice(StrictModel):
    """What a system message is about (a deliverable's state change)."""

    event: str = Field(description="the event it reports, e.g. deliverable_approved")
    deliverable_id: uuid.UUID
    status: str
    revision: int


class Message(StrictModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID = Field(
        description=f"the author; system messages have the nil UUID {SYSTEM_SENDER_ID}"
    )
    client_msg_id: str
    body: str
    created_at: str
    kind: Literal["user", "system"] = Field(
        default="user", description="system: posted by the platform, not by a participant"
    )
    notice: SystemNotice | None = Field(default=None, description="set on system messages")


class MessagePage(StrictModel):
    items: list[Message]
    next_cursor: str | None


class ConversationQuery(QueryModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None


class MessageQuery(QueryModel):
    """Without after_seq: newest first, next_cursor pages to older messages. With after_seq:
    oldest first from there, next_cursor pages to newer ones (what a reconnecting client wants).
    """

    after_seq: int | None = Field(default=None, ge=0, le=2**53)
    limit: int = Field(default=50, ge=1, le=100)
    cursor: Cursor | None = None
