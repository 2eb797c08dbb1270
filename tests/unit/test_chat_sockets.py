"""ws's WebSocket (size across continuation frames, frames counted as they arrive, masking),
handshake tokens, log redaction, revocation and the sweeper, over a socketpair (no services)."""

import logging
import socket
import time
from types import SimpleNamespace

import eventlet
import pytest
from eventlet.websocket import RFC6455WebSocket
from websocket import ABNF

from dependencies.request_context import RedactTokens
from kernel.config import load_config
from kernel.tokens import AccessClaims
from ws.connection import ChatConnection, end_overdue
from ws.hub import Hub
from ws.protocol import CLOSE_IDLE, CLOSE_TOKEN_EXPIRED
from ws.server import ACCESS_TOKEN, CLAIMS, ChatApp, handshake_token
from ws.settings import WsSettings
from ws.sockets import ChatWebSocket

LIMIT = 4096


def frame(data: str, opcode: int, fin: int = 1) -> bytes:
    return ABNF.create_frame(data, opcode, fin).format()  # masked, as a client sends it


@pytest.fixture
def pair():
    server_end, client_end = socket.socketpair()
    server = ChatWebSocket(server_end, {}, max_frame_length=LIMIT)
    yield server, client_end
    client_end.close()
    server_end.close()


def close_code(client_end: socket.socket) -> int:
    client_end.settimeout(5)
    data = client_end.recv(2 + 2)
    assert data[0] == 0x88, data  # a close frame
    return int.from_bytes(data[2:4], "big")


def test_a_message_is_limited_across_its_continuation_frames(pair):
    server, client_end = pair
    reader = eventlet.spawn(server.wait)
    client_end.sendall(frame('"', ABNF.OPCODE_TEXT, 0))
    for _ in range(LIMIT // 1000 + 1):  # each frame is far below the limit, the message is not
        client_end.sendall(frame("x" * 1000, ABNF.OPCODE_CONT, 0))
    assert close_code(client_end) == 1009
    assert reader.wait() is None


def test_a_fragmented_message_within_the_limit_is_one_message_and_every_frame_counts(pair):
    server, client_end = pair
    arrived: list[int] = []
    server.frame_arrived = lambda: arrived.append(1)
    client_end.sendall(frame('{"type":', ABNF.OPCODE_TEXT, 0))
    client_end.sendall(frame("", ABNF.OPCODE_PING))  # control frames in between count too
    client_end.sendall(frame(' "ping"', ABNF.OPCODE_CONT, 0))
    client_end.sendall(frame("}", ABNF.OPCODE_CONT, 1))
    assert server.wait() == '{"type": "ping"}'
    assert len(arrived) == 4


def test_masking_matches_eventlets(pair):
    payload = bytes(range(256)) * 9 + b"tail"
    for mask in ((1, 2, 3, 4), (255, 0, 127, 128)):
        for offset in (0, 1, 3, 6):
            expected = RFC6455WebSocket._apply_mask(payload, mask, len(payload), offset)
            assert ChatWebSocket._apply_mask(payload, mask, len(payload), offset) == expected


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"HTTP_AUTHORIZATION": "Bearer abc.def.ghi"}, "abc.def.ghi"),
        ({"HTTP_SEC_WEBSOCKET_PROTOCOL": "bearer, abc.def.ghi"}, "abc.def.ghi"),
        ({"HTTP_SEC_WEBSOCKET_PROTOCOL": "abc.def.ghi,bearer"}, "abc.def.ghi"),
        ({"HTTP_SEC_WEBSOCKET_PROTOCOL": "bearer"}, None),
        ({"HTTP_SEC_WEBSOCKET_PROTOCOL": "bearer, a.b.c, d.e.f"}, None),
        ({"HTTP_SEC_WEBSOCKET_PROTOCOL": "abc.def.ghi"}, None),
        ({"QUERY_STRING": "jwt=abc.def.ghi"}, "abc.def.ghi"),
        ({}, None),
    ],
)
def test_handshake_token_sources(headers, token):
    assert handshake_token(headers) == token


def test_tokens_in_query_strings_are_redacted_in_log_lines():
    record = logging.LogRecord(
        "ws.access",
        logging.INFO,
        __file__,
        1,
        '1.2.3.4 "GET /ws?a=1&jwt=%s&b=2 HTTP/1.1" %s',
        ("eyJ.secret.sig", 101),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == '1.2.3.4 "GET /ws?a=1&jwt=[redacted]&b=2 HTTP/1.1" 101'


class FakeConnection:
    def __init__(self, user_id: str, session_id: str, expires_at: float, idle_since: float):
        self.id, self.user_id, self.session_id = f"{user_id}/{session_id}", user_id, session_id
        self.token_expires_at = expires_at
        self.last_frame_at = idle_since
        self.ended: tuple[int, str] | None = None

    def push(self, frame):
        pass

    def end(self, code: int, reason: str) -> None:
        self.ended = (code, reason)


def test_a_revoked_session_ends_only_its_own_sockets():
    hub = Hub()
    later = time.time() + 600
    mine = [FakeConnection("u1", "s1", later, time.monotonic()) for _ in range(2)]
    for index, connection in enumerate(mine):
        connection.id += str(index)
    other_session = FakeConnection("u1", "s2", later, time.monotonic())
    other_user = FakeConnection("u2", "s1", later, time.monotonic())
    for connection in (*mine, other_session, other_user):
        hub.add(connection)
    assert hub.on_session_revoked({"user_id": "u1", "session_id": "s1", "reason": "logout"}) == 2
    assert [c.ended[0] for c in mine] == [CLOSE_TOKEN_EXPIRED] * 2
    assert other_session.ended is None and other_user.ended is None


def test_the_sweeper_ends_expired_and_idle_sockets_only():
    now, clock = time.time(), time.monotonic()
    expired = FakeConnection("u1", "s1", now - 1, clock)
    idle = FakeConnection("u2", "s2", now + 600, clock - 61)
    fine = FakeConnection("u3", "s3", now + 600, clock - 5)
    assert end_overdue([expired, idle, fine], 60) == 2
    assert expired.ended[0] == CLOSE_TOKEN_EXPIRED
    assert idle.ended[0] == CLOSE_IDLE
    assert fine.ended is None


@pytest.mark.parametrize(
    "carrier",
    [
        {"HTTP_AUTHORIZATION": "Bearer the-token"},
        {"HTTP_SEC_WEBSOCKET_PROTOCOL": "bearer, the-token"},
        {"QUERY_STRING": "jwt=the-token"},
    ],
)
def test_an_open_socket_keeps_its_token_in_the_connection_only(monkeypatch, carrier):
    settings = WsSettings.from_config(load_config())
    services = SimpleNamespace(settings=settings, process_id="p")
    app = ChatApp({}, settings, services, codec=None, denylist=None)  # type: ignore[arg-type]
    claims = AccessClaims(subject="u1", role="brand", token_id="t1", session_id="s1", expires_at=1)
    environ = {"PATH_INFO": "/ws", CLAIMS: claims, ACCESS_TOKEN: "the-token", **carrier}
    seen = {}

    def run(connection: ChatConnection) -> None:
        seen["environ"] = dict(connection.ws.environ)
        seen["token"] = connection.access_token

    monkeypatch.setattr(ChatConnection, "run", run)
    app.serve(SimpleNamespace(environ=environ))
    assert seen == {"environ": {"PATH_INFO": "/ws"}, "token": "the-token"}
