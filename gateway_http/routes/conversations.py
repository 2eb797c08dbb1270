"""/api/v1/conversations: chat history and sending over REST (the same store and idempotency as
the WebSocket hub; a message sent here is pushed to connected participants as well)."""

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.bodies import json_response
from gateway_http.caller import query_params
from gateway_http.edge import RouteSpec, route
from services.messaging.schemas import (
    Conversation,
    ConversationOpen,
    ConversationPage,
    ConversationQuery,
    Message,
    MessageCreate,
    MessagePage,
    MessageQuery,
    ReadMark,
)

NOT_FOUND = "no such conversation (or you are not a participant)"


class ConversationRoutes:
    messaging_rpc: Any

    @route(
        "GET",
        "/api/v1/conversations",
        RouteSpec(
            "Own conversations, latest activity first, with unread counts (admin: all)",
            "conversations",
            query_model=ConversationQuery,
            responses={200: ConversationPage},
        ),
    )
    def list_conversations(self, request: Request) -> Response:
        return json_response(self.messaging_rpc.list_conversations(query_params(request)))

    @route(
        "POST",
        "/api/v1/conversations",
        RouteSpec(
            "Open the conversation with a creator who applied to one of your campaigns (brands)",
            "conversations",
            body=ConversationOpen,
            responses={
                200: Conversation,
                201: Conversation,
                404: "no such application to one of your campaigns",
            },
            roles=("brand",),
        ),
    )
    def open_conversation(self, request: Request, body: Any) -> Response:
        opened = self.messaging_rpc.open_conversation(body)
        return json_response(opened["conversation"], status=201 if opened["created"] else 200)

    @route(
        "GET",
        "/api/v1/conversations/<conversation_id>/messages",
        RouteSpec(
            "Message history by seq: newest first, or from after_seq onwards",
            "conversations",
            query_model=MessageQuery,
            responses={200: MessagePage, 404: NOT_FOUND},
        ),
    )
    def list_messages(self, request: Request, conversation_id: str) -> Response:
        return json_response(self.messaging_rpc.history(conversation_id, query_params(request)))

    @route(
        "POST",
        "/api/v1/conversations/<conversation_id>/messages",
        RouteSpec(
            "Send a message (participants); re-sending a client_msg_id returns the original",
            "conversations",
            body=MessageCreate,
            responses={
                200: Message,
                201: Message,
                403: "admins read but do not write",
                404: NOT_FOUND,
            },
        ),
    )
    def send_message(self, request: Request, conversation_id: str, body: Any) -> Response:
        sent = self.messaging_rpc.send_message(conversation_id, body)
        return json_response(sent["message"], status=200 if sent["duplicate"] else 201)

    @route(
        "POST",
        "/api/v1/conversations/<conversation_id>/read",
        RouteSpec(
            "Mark messages up to seq as read (participants)",
            "conversations",
            body=ReadMark,
            responses={200: Conversation, 403: "admins read but do not write", 404: NOT_FOUND},
        ),
    )
    def mark_read(self, request: Request, conversation_id: str, body: Any) -> Response:
        return json_response(self.messaging_rpc.mark_read(conversation_id, body))
