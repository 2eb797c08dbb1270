"""The JSON frame protocol (docs/architecture.md, "Public contracts"): parsing client frames,
building server frames, and the close codes. Pure functions; no sockets here."""

import json
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from kernel.schemas import StrictModel, field_errors

# Close codes (RFC 6455 where one fits, 4xxx = application-defined, echoing HTTP statuses).
CLOSE_GOING_AWAY = 1001  # the server is shutting down: reconnect (to another process) and sync
CLOSE_POLICY = 1008  # kept flooding after rate_limited errors, or too slow to read its frames
CLOSE_TOO_BIG = 1009  # a frame above the hard size limit (closed by eventlet while reading)
CLOSE_INTERNAL = 1011
CLOSE_TOKEN_EXPIRED = 4401  # the access token expired or its session was revoked: sign in again
CLOSE_IDLE = 4408  # nothing received for IDLE_TIMEOUT_SECONDS (send {"type":"ping"} to stay)

ConversationId = Annotated[str, Field(min_length=1, max_length=64)]


class SendFrame(StrictModel):
    type: Literal["send"]
    conversation_id: ConversationId
    client_msg_id: str = Field(min_length=1, max_length=64)
    body: str


class SyncFrame(StrictModel):
    type: Literal["sync"]
    conversation_id: ConversationId
    after_seq: int = Field(default=0, ge=0, le=2**53)


class TypingFrame(StrictModel):
    type: Literal["typing"]
    conversation_id: ConversationId


class ReadFrame(StrictModel):
    type: Literal["read"]
    conversation_id: ConversationId
    seq: int = Field(ge=0, le=2**53)


class PingFrame(StrictModel):
    type: Literal["ping"]


ClientFrame = SendFrame | SyncFrame | TypingFrame | ReadFrame | PingFrame
CLIENT_FRAME_TYPES = ("send", "sync", "typing", "read", "ping")
_FRAME = TypeAdapter(Annotated[ClientFrame, Field(discriminator="type")])


class ProtocolError(Exception):
    """Answered with an error frame; the connection stays open."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, **self.details)


def parse_client_frame(raw: str | bytes, max_bytes: int) -> ClientFrame:
    if isinstance(raw, bytes):
        raise ProtocolError("binary_not_supported", "frames are JSON text, not binary")
    if len(raw.encode()) > max_bytes:
        raise ProtocolError("frame_too_large", f"frames are limited to {max_bytes} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("invalid_json", "the frame is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("invalid_frame", "a frame is a JSON object with a string 'type'")
    if data["type"] not in CLIENT_FRAME_TYPES:
        raise ProtocolError(
            "unknown_type",
            f"unknown frame type; expected one of {', '.join(CLIENT_FRAME_TYPES)}",
            frame_type=data["type"][:64],
        )
    try:
        return _FRAME.validate_python(data)
    except ValidationError as exc:
        errors = [
            {**error, "field": error["field"].split(".", 1)[-1]} for error in field_errors(exc)
        ]
        raise ProtocolError(
            "invalid_frame", f"invalid {data['type']} frame", errors=errors
        ) from None


def error_frame(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **details}


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), default=str)
