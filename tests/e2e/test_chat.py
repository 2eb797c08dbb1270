"""Chat end to end: two ws processes (plus the stack's own), real WebSocket and HTTP clients,
messaging on the embedded store, fan-out through RabbitMQ."""

import json
import signal
import time
import uuid

import pytest
import requests
import websocket

from tests.e2e.chat import (
    MAX_CONNECTIONS_PER_USER,
    A,
    Client,
    drain_until_close,
    more_hubs,
    of_type,
)
from tests.e2e.marketplace import (
    User,
    admin,
    apply,
    call,
    make_brand,
    make_creator,
    published_campaign,
)

pytestmark = pytest.mark.e2e
FLOOD_FRAMES = 600


def test_a_message_sent_on_one_hub_reaches_the_recipient_on_the_other_in_order(hubs, chat):
    brand = Client(hubs.urls[0], chat.brand)
    creator = Client(hubs.urls[1], chat.creator)
    try:
        sent = [brand.send_message(chat.conversation_id, f"hello {n}") for n in range(20)]
        acks = brand.collect("ack", 20)
        assert [a["client_msg_id"] for a in acks] == sent
        assert [a["seq"] for a in acks] == list(range(1, 21))
        received = creator.collect("message", 20, conversation_id=chat.conversation_id)
        assert [m["seq"] for m in received] == list(range(1, 21))
        assert [m["body"] for m in received] == [f"hello {n}" for n in range(20)]
        assert {m["sender_id"] for m in received} == {chat.brand.id}
        assert received[0]["client_msg_id"] == sent[0]
        # the sender's own socket got acks, not its messages echoed back
        assert not [f for f in brand.frames if f["type"] == "message"]
    finally:
        brand.close()
        creator.close()


def test_reconnecting_with_sync_returns_every_missed_message_once_in_order(hubs, chat):
    creator = Client(hubs.urls[1], chat.creator)
    creator.close()
    brand = Client(hubs.urls[0], chat.brand)
    try:
        for n in range(50):
            brand.send_message(chat.conversation_id, f"missed {n}")
        assert [a["seq"] for a in brand.collect("ack", 50)] == list(range(1, 51))
        creator = Client(hubs.urls[1], chat.creator)
        creator.send({"type": "sync", "conversation_id": chat.conversation_id, "after_seq": 0})
        done = creator.until(of_type("synced", conversation_id=chat.conversation_id))
        assert done["last_seq"] == 50 and done["more"] is False
        messages = [f for f in creator.frames if f["type"] == "message"]
        assert [m["seq"] for m in messages] == list(range(1, 51))
        assert [m["body"] for m in messages] == [f"missed {n}" for n in range(50)]
        # from the middle: only what came after
        creator.send({"type": "sync", "conversation_id": chat.conversation_id, "after_seq": 45})
        creator.frames.clear()
        creator.until(of_type("synced"))
        assert [f["seq"] for f in creator.frames if f["type"] == "message"] == [46, 47, 48, 49, 50]
    finally:
        brand.close()
        creator.close()


def test_the_same_client_msg_id_twice_stores_and_delivers_one_message(api, hubs, chat):
    brand = Client(hubs.urls[0], chat.brand)
    creator = Client(hubs.urls[1], chat.creator)
    try:
        brand.send_message(chat.conversation_id, "only once", client_msg_id="dup-1")
        first = brand.until(of_type("ack"))
        brand.send_message(chat.conversation_id, "only once", client_msg_id="dup-1")
        second = brand.until(of_type("ack"))
        assert (first["seq"], first["duplicate"]) == (1, False)
        assert (second["seq"], second["id"], second["duplicate"]) == (1, first["id"], True)
        # a later message is the next frame the recipient gets: no second copy in between
        brand.send_message(chat.conversation_id, "next", client_msg_id="dup-2")
        received = creator.collect("message", 2)
        assert [(m["seq"], m["client_msg_id"]) for m in received] == [(1, "dup-1"), (2, "dup-2")]
        # REST: the same idempotency (200 with the original on a re-send)
        rest = call(
            api,
            "POST",
            f"{A}/conversations/{chat.conversation_id}/messages",
            chat.brand,
            {"client_msg_id": "dup-1", "body": "only once"},
        )
        assert rest.status_code == 200 and rest.json()["seq"] == 1
        history = call(api, "GET", f"{A}/conversations/{chat.conversation_id}/messages", chat.brand)
        assert [m["seq"] for m in history.json()["items"]] == [2, 1]
    finally:
        brand.close()
        creator.close()


def test_a_non_participant_can_neither_read_send_nor_subscribe(api, hubs, chat):
    outsider = make_creator(api)
    # the outsider also has a conversation with the same brand: its messages are the barrier
    campaign = published_campaign(api, chat.brand)
    application = apply(api, outsider, campaign["id"]).json()
    opened = call(
        api, "POST", f"{A}/conversations", chat.brand, {"application_id": application["id"]}
    )
    assert opened.status_code == 201, opened.text
    theirs = opened.json()["id"]

    spy = Client(hubs.urls[1], outsider)
    brand = Client(hubs.urls[0], chat.brand)
    try:
        spy.send_message(chat.conversation_id, "let me in", client_msg_id="x1")
        refused = spy.until(of_type("error"))
        assert refused["code"] == "not_found"
        assert refused["client_msg_id"] == "x1"
        for frame in (
            {"type": "sync", "conversation_id": chat.conversation_id, "after_seq": 0},
            {"type": "typing", "conversation_id": chat.conversation_id},
            {"type": "read", "conversation_id": chat.conversation_id, "seq": 1},
        ):
            spy.send(frame)
            assert spy.until(of_type("error"))["code"] == "not_found", frame

        brand.send_message(chat.conversation_id, "private")
        brand.send_message(theirs, "for the outsider")
        brand.collect("ack", 2)
        first_message = spy.until(of_type("message"))
        assert first_message["conversation_id"] == theirs
        assert not [
            f
            for f in spy.frames
            if f.get("conversation_id") == chat.conversation_id and f["type"] != "error"
        ]

        for method, path, body in [
            ("GET", f"{A}/conversations/{chat.conversation_id}/messages", None),
            (
                "POST",
                f"{A}/conversations/{chat.conversation_id}/messages",
                {"client_msg_id": "x2", "body": "hi"},
            ),
            ("POST", f"{A}/conversations/{chat.conversation_id}/read", {"seq": 1}),
        ]:
            assert call(api, method, path, outsider, body).status_code == 404, path
        listed = call(api, "GET", f"{A}/conversations", outsider).json()["items"]
        assert [c["id"] for c in listed] == [theirs]
        history = call(api, "GET", f"{A}/conversations/{chat.conversation_id}/messages", chat.brand)
        assert [m["body"] for m in history.json()["items"]] == ["private"]
    finally:
        spy.close()
        brand.close()


def test_bad_frames_are_answered_and_the_connection_survives(hubs, chat):
    client = Client(hubs.urls[0], chat.creator)
    try:
        cases = [
            ("not json at all", "invalid_json"),
            ("[1, 2]", "invalid_frame"),
            ('{"type": 7}', "invalid_frame"),
            ('{"type": "shout"}', "unknown_type"),
            ('{"type": "send", "conversation_id": "c"}', "invalid_frame"),
            ('{"type": "read", "conversation_id": "c", "seq": -1}', "invalid_frame"),
            ('{"type": "ping", "extra": 1}', "invalid_frame"),
            ("x" * 20_000, "frame_too_large"),
        ]
        for raw, code in cases:
            client.send(raw)
            error = client.until(of_type("error"))
            assert error["code"] == code, raw[:40]
        missing = client.frames[-4]
        assert {e["field"] for e in missing["errors"]} >= {"client_msg_id", "body"}
        client.ws.send_binary(b"\x00\x01")
        assert client.until(of_type("error"))["code"] == "binary_not_supported"
        client.send(
            {
                "type": "send",
                "conversation_id": chat.conversation_id,
                "client_msg_id": "e",
                "body": "",
            }
        )
        assert client.until(of_type("error"))["code"] == "invalid_input"
        client.send({"type": "ping"})
        assert client.until(of_type("pong"))
    finally:
        client.close()


def test_a_frame_above_the_hard_limit_closes_with_1009(hubs, chat):
    client = Client(hubs.urls[0], chat.creator)
    client.send("x" * 70_000)
    _, code = drain_until_close(client)
    assert code == 1009


def test_flooding_is_refused_then_closed_with_1008(hubs, chat):
    client = Client(hubs.urls[0], chat.creator)
    for _ in range(FLOOD_FRAMES):
        try:
            client.send({"type": "ping"})
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            break
    seen, code = drain_until_close(client)
    assert "pong" in seen and "rate_limited" in seen
    assert code == 1008


def test_handshake_is_refused_without_a_valid_token_or_from_a_foreign_origin(hubs, chat):
    url = hubs.urls[0]
    for options in (
        {},
        {"header": ["Authorization: Bearer not-a-jwt"]},
        {"header": [f"Authorization: Bearer {chat.creator.token}x"]},
    ):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, suppress_origin=True, timeout=10, **options)
        assert refused.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            url,
            header=[f"Authorization: Bearer {chat.creator.token}"],
            origin="https://evil.example.com",
            timeout=10,
        )
    assert refused.value.status_code == 403
    # browsers: the token in the query string, an allowed Origin
    browser = websocket.create_connection(
        f"{url}?jwt={chat.creator.token}", origin="http://localhost:3000", timeout=10
    )
    browser.send(json.dumps({"type": "ping"}))
    assert json.loads(browser.recv())["type"] in ("pong", "presence")
    browser.close()


def test_connections_per_user_are_limited(hubs, chat):
    clients = [Client(hubs.urls[0], chat.creator) for _ in range(MAX_CONNECTIONS_PER_USER)]
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            Client(hubs.urls[0], chat.creator)
        assert refused.value.status_code == 429
    finally:
        for client in clients:
            client.close()


def test_typing_read_receipts_and_presence_cross_hubs(api, hubs, chat):
    creator = Client(hubs.urls[1], chat.creator)
    brand = Client(hubs.urls[0], chat.brand)
    try:
        online = creator.until(of_type("presence", user_id=chat.brand.id))
        assert online["status"] == "online"
        brand.send({"type": "typing", "conversation_id": chat.conversation_id})
        typing = creator.until(of_type("typing"))
        assert typing == {
            "type": "typing",
            "conversation_id": chat.conversation_id,
            "user_id": chat.brand.id,
        }
        brand.send_message(chat.conversation_id, "read me")
        message = creator.until(of_type("message"))
        listed = call(api, "GET", f"{A}/conversations", chat.creator).json()["items"][0]
        assert listed["unread"] == 1
        creator.send(
            {"type": "read", "conversation_id": chat.conversation_id, "seq": message["seq"]}
        )
        receipt = brand.until(of_type("read"))
        assert receipt == {
            "type": "read",
            "conversation_id": chat.conversation_id,
            "user_id": chat.creator.id,
            "seq": message["seq"],
        }
        listed = call(api, "GET", f"{A}/conversations", chat.creator).json()["items"][0]
        assert listed["unread"] == 0 and listed["read_seq"] == message["seq"]
        brand.close()
        offline = creator.until(of_type("presence", user_id=chat.brand.id, status="offline"))
        assert offline["status"] == "offline"
    finally:
        brand.close()
        creator.close()


def test_rest_conversations_for_brand_creator_and_admin(api, hubs, chat):
    # a brand opens a conversation with a creator who applied (not yet accepted)
    other = make_creator(api)
    campaign = published_campaign(api, chat.brand)
    application = apply(api, other, campaign["id"]).json()
    body = {"application_id": application["id"]}
    created = call(api, "POST", f"{A}/conversations", chat.brand, body)
    again = call(api, "POST", f"{A}/conversations", chat.brand, body)
    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json()["id"] == again.json()["id"]
    assert sorted(created.json()["participants"]) == sorted([chat.brand.id, other.id])
    assert call(api, "POST", f"{A}/conversations", other, body).status_code == 403
    assert call(api, "POST", f"{A}/conversations", make_brand(api), body).status_code == 404
    unknown = {"application_id": str(uuid.uuid4())}
    assert call(api, "POST", f"{A}/conversations", chat.brand, unknown).status_code == 404
    assert call(api, "POST", f"{A}/conversations", chat.brand, {"x": 1}).status_code == 422

    path = f"{A}/conversations/{chat.conversation_id}/messages"
    for n in range(5):
        sent = call(api, "POST", path, chat.creator, {"client_msg_id": f"r{n}", "body": f"m{n}"})
        assert sent.status_code == 201, sent.text
        assert sent.json()["seq"] == n + 1
    page = call(api, "GET", f"{path}?limit=2", chat.brand).json()
    assert [m["seq"] for m in page["items"]] == [5, 4]
    older = call(api, "GET", f"{path}?limit=2&cursor={page['next_cursor']}", chat.brand).json()
    assert [m["seq"] for m in older["items"]] == [3, 2]
    newer = call(api, "GET", f"{path}?after_seq=2&limit=2", chat.brand).json()
    assert [m["seq"] for m in newer["items"]] == [3, 4]
    rest = call(api, "GET", f"{path}?after_seq=2&limit=2&cursor={newer['next_cursor']}", chat.brand)
    assert [m["seq"] for m in rest.json()["items"]] == [5]
    assert rest.json()["next_cursor"] is None
    assert call(api, "GET", f"{path}?cursor=garbage", chat.brand).status_code == 422
    assert call(api, "GET", f"{path}?limit=0", chat.brand).status_code == 422

    brand_view = call(api, "GET", f"{A}/conversations", chat.brand).json()["items"]
    mine = next(c for c in brand_view if c["id"] == chat.conversation_id)
    assert (mine["unread"], mine["last_seq"]) == (5, 5)
    read = call(
        api, "POST", f"{A}/conversations/{chat.conversation_id}/read", chat.brand, {"seq": 3}
    )
    assert read.status_code == 200 and read.json()["unread"] == 2
    too_far = call(
        api, "POST", f"{A}/conversations/{chat.conversation_id}/read", chat.brand, {"seq": 99}
    )
    assert too_far.json()["read_seq"] == 5 and too_far.json()["unread"] == 0

    boss = admin(api)
    assert call(api, "GET", path, boss).status_code == 200
    assert chat.conversation_id in [
        c["id"] for c in call(api, "GET", f"{A}/conversations?limit=100", boss).json()["items"]
    ]
    assert call(api, "POST", path, boss, {"client_msg_id": "a", "body": "hi"}).status_code == 403
    assert call(api, "GET", f"{A}/conversations/not-a-uuid/messages", chat.brand).status_code == 404
    bad = call(api, "POST", path, chat.creator, {"client_msg_id": "bad id!", "body": "x"})
    assert bad.status_code == 422


def test_killing_a_hub_loses_no_acknowledged_message(hubs, chat):
    brand = Client(hubs.urls[0], chat.brand)
    creator = Client(hubs.urls[0], chat.creator)
    acked: list[int] = []
    try:
        for n in range(10):
            brand.send_message(chat.conversation_id, f"before {n}")
        acked += [a["seq"] for a in brand.collect("ack", 10)]
        for n in range(10):
            brand.send_message(chat.conversation_id, f"during {n}")
        hubs.stack.stop_one("ws-a", sig=signal.SIGKILL)
        while True:  # whatever was acked before the hub died counts
            try:
                frame = brand.receive(timeout=10)
            except (websocket.WebSocketException, OSError):
                break
            if frame["type"] == "ack":
                acked.append(frame["seq"])
        brand.close()
        creator.close()

        brand = Client(hubs.urls[1], chat.brand)
        for n in range(5):
            brand.send_message(chat.conversation_id, f"after {n}")
        acked += [a["seq"] for a in brand.collect("ack", 5)]
        creator = Client(hubs.urls[1], chat.creator)
        creator.send({"type": "sync", "conversation_id": chat.conversation_id, "after_seq": 0})
        creator.until(of_type("synced"))
        synced = [f["seq"] for f in creator.frames if f["type"] == "message"]
        assert set(acked) <= set(synced)
        assert synced == sorted(set(synced))
    finally:
        brand.close()
        creator.close()
        hubs.restart(0)


def test_ws_health_and_metrics(hubs, chat):
    process = hubs.processes[1]
    port = process.env["WS_ADDRESS"].rsplit(":", 1)[1]
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "ok", "rabbitmq": "ok"}
    client = Client(hubs.urls[1], chat.creator)
    client.send({"type": "ping"})
    client.until(of_type("pong"))
    client.send("nope")
    client.until(of_type("error"))
    text = requests.get(f"http://127.0.0.1:{process.env['METRICS_PORT']}/metrics", timeout=5).text
    client.close()
    assert "ws_connections 1.0" in text
    assert 'ws_frames_total{direction="in",type="ping"}' in text
    assert 'ws_frames_total{direction="out",type="pong"}' in text
    assert 'ws_errors_total{code="invalid_json"}' in text


def test_history_survives_a_restart_of_messaging(api, hubs, chat):
    path = f"{A}/conversations/{chat.conversation_id}/messages"
    sent = call(api, "POST", path, chat.brand, {"client_msg_id": "keep", "body": "still here"})
    assert sent.status_code == 201
    stack = api.stack
    messaging = next(p for p in stack.processes if p.name == "messaging")
    stack.stop_one("messaging")
    stack.start_one(messaging)
    stack.wait_ready(timeout=60)
    history = call(api, "GET", path, chat.creator).json()["items"]
    assert [(m["seq"], m["body"]) for m in history] == [(1, "still here")]
    again = call(api, "POST", path, chat.brand, {"client_msg_id": "keep", "body": "still here"})
    assert again.status_code == 200 and again.json()["seq"] == 1


def test_a_hub_shutting_down_closes_its_sockets_with_1001(hubs, chat):
    client = Client(hubs.urls[1], chat.creator)
    client.send({"type": "ping"})
    client.until(of_type("pong"))
    try:
        hubs.stack.stop_one("ws-b")
        _, code = drain_until_close(client)
        assert code == 1001
    finally:
        hubs.restart(1)


@pytest.fixture(scope="module")
def impatient_hub(running_stack):
    """A hub that closes sockets after one idle second."""
    with more_hubs(running_stack, ("ws-idle",), WS_IDLE_TIMEOUT_SECONDS="1") as hub:
        yield hub.urls[0]


def test_an_idle_socket_is_closed_with_4408(impatient_hub, chat):
    client = Client(impatient_hub, chat.creator)
    _, code = drain_until_close(client)
    assert code == 4408


def test_a_socket_is_closed_with_4401_when_its_token_expires(hubs, chat):
    from kernel.config import load_config
    from kernel.tokens import TokenCodec

    codec = TokenCodec.from_config(load_config(), signing=True)
    # expired five seconds ago: still inside the verification leeway, so the handshake passes
    token, claims = codec.issue_access_token(
        subject=chat.creator.id,
        role="creator",
        session_id=str(uuid.uuid4()),
        now=time.time() - codec.access_ttl_seconds - 5,
    )
    assert claims.expires_at < time.time()
    client = Client(hubs.urls[0], User(chat.creator.id, token, "creator"))
    _, code = drain_until_close(client)
    assert code == 4401
