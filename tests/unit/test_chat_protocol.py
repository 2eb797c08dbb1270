"""ws protocol parsing, the per-connection rate limit and the hub's routing (no sockets)."""

import json

import pytest

from ws.hub import Hub
from ws.limits import TokenBucket
from ws.protocol import ProtocolError, SendFrame, SyncFrame, encode, parse_client_frame
from ws.settings import WsSettings

MAX = 1024


def code_of(raw):
    with pytest.raises(ProtocolError) as error:
        parse_client_frame(raw, MAX)
    return error.value.code


def test_valid_frames_parse_to_their_models():
    send = parse_client_frame(
        json.dumps({"type": "send", "conversation_id": "c", "client_msg_id": "m", "body": "hi"}),
        MAX,
    )
    assert isinstance(send, SendFrame) and send.body == "hi"
    sync = parse_client_frame('{"type": "sync", "conversation_id": "c"}', MAX)
    assert isinstance(sync, SyncFrame) and sync.after_seq == 0
    assert parse_client_frame('{"type": "ping"}', MAX).type == "ping"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "invalid_json"),
        ("", "invalid_json"),
        ("[" * 100_000 + "]" * 100_000, "frame_too_large"),
        ("[]", "invalid_frame"),
        ('"send"', "invalid_frame"),
        ('{"conversation_id": "c"}', "invalid_frame"),
        ('{"type": null}', "invalid_frame"),
        ('{"type": "subscribe"}', "unknown_type"),
        ('{"type": "send", "conversation_id": "c", "client_msg_id": "m"}', "invalid_frame"),
        (
            '{"type": "send", "conversation_id": 5, "client_msg_id": "m", "body": "b"}',
            "invalid_frame",
        ),
        ('{"type": "sync", "conversation_id": "c", "after_seq": "3"}', "invalid_frame"),
        ('{"type": "sync", "conversation_id": "c", "after_seq": true}', "invalid_frame"),
        ('{"type": "read", "conversation_id": "c", "seq": -1}', "invalid_frame"),
        ('{"type": "ping", "x": 1}', "invalid_frame"),
        (b'{"type": "ping"}', "binary_not_supported"),
        ("x" * (MAX + 1), "frame_too_large"),
    ],
)
def test_bad_frames_raise_a_protocol_error_with_a_code(raw, code):
    assert code_of(raw) == code


def test_frame_errors_name_the_fields():
    with pytest.raises(ProtocolError) as error:
        parse_client_frame('{"type": "send", "conversation_id": "c"}', MAX)
    frame = error.value.frame()
    assert frame["type"] == "error" and frame["code"] == "invalid_frame"
    assert {e["field"] for e in frame["errors"]} == {"client_msg_id", "body"}


def test_size_is_measured_in_utf8_bytes():
    body = "é" * 400  # 800 bytes, 400 characters
    frame = json.dumps(
        {"type": "send", "conversation_id": "c", "client_msg_id": "m", "body": body},
        ensure_ascii=False,
    )
    assert parse_client_frame(frame, MAX).body == body
    assert code_of(frame.replace(body, body * 2)) == "frame_too_large"


def test_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst


class Outlet:
    def __init__(self, connection_id, user_id):
        self.id, self.user_id, self.frames = connection_id, user_id, []

    def push(self, frame):
        self.frames.append(frame)


def test_hub_routes_events_to_the_participants_sockets_only():
    hub = Hub()
    brand_a, brand_b = Outlet("p/1", "brand"), Outlet("p/2", "brand")
    creator, outsider = Outlet("p/3", "creator"), Outlet("p/4", "outsider")
    for outlet in (brand_a, brand_b, creator, outsider):
        hub.add(outlet)
    assert hub.count == 4 and hub.connections_of("brand") == 2
    message = {"conversation_id": "c", "seq": 1, "body": "hi"}
    delivered = hub.on_message_sent(
        {"participants": ["brand", "creator"], "message": message, "origin": "p/1"}
    )
    assert delivered == 2
    assert brand_a.frames == [] and outsider.frames == []
    assert brand_b.frames == creator.frames == [{"type": "message", **message}]
    hub.on_typing(
        {"conversation_id": "c", "user_id": "brand", "participants": ["brand", "creator"]}
    )
    assert creator.frames[-1] == {"type": "typing", "conversation_id": "c", "user_id": "brand"}
    assert len(brand_b.frames) == 1  # nobody sees their own typing
    hub.on_conversation_read(
        {
            "conversation_id": "c",
            "user_id": "creator",
            "seq": 1,
            "participants": ["brand", "creator"],
        }
    )
    assert brand_a.frames[-1]["type"] == "read" and creator.frames[-1]["type"] == "read"
    hub.on_presence({"user_id": "creator", "status": "offline", "notify": ["brand"]})
    assert brand_b.frames[-1] == {"type": "presence", "user_id": "creator", "status": "offline"}
    assert outsider.frames == []
    assert hub.remove(brand_a) == 1 and hub.remove(brand_b) == 0
    assert hub.count == 2 and "brand" not in hub.users()


def test_settings_from_config_parse_the_origin_allowlist():
    from kernel.config import load_config

    config = load_config()
    config["WS"] = {**config["WS"], "ALLOWED_ORIGINS": " https://a.example , ,https://b.example"}
    settings = WsSettings.from_config(config)
    assert settings.allowed_origins == {"https://a.example", "https://b.example"}
    assert settings.hard_frame_bytes > settings.max_frame_bytes
    assert json.loads(encode({"type": "pong"})) == {"type": "pong"}
