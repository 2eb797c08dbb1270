"""Helpers for chat e2e tests: a conversation between a brand and a creator, WebSocket clients."""

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import websocket

from scripts.isolated_stack import free_port
from scripts.stack import Process, Stack, ws_process
from tests.conftest import wait_until
from tests.e2e.marketplace import (
    User,
    accepted_application,
    call,
    make_brand,
    make_creator,
    published_campaign,
)

A = "/api/v1"
MAX_CONNECTIONS_PER_USER = 3
# Roomy enough for the bursts these tests send; flooding sends far more than burst + patience.
LIMITS = {"WS_MESSAGES_PER_SECOND": "50", "WS_BURST": "100", "WS_FLOOD_CLOSE_AFTER": "50"}


@dataclass
class Hubs:
    stack: Stack
    processes: list[Process]
    urls: list[str]

    def restart(self, index: int) -> None:
        self.stack.start_one(self.processes[index])
        self.stack.wait_ready(timeout=60)


@contextmanager
def more_hubs(running_stack, names: tuple[str, ...], **env: str) -> Iterator[Hubs]:
    """More ws processes on the running stack's broker, Redis and services, with `env` added."""
    processes, urls = [], []
    for name in names:
        port = free_port()
        process = ws_process(name, port, free_port())
        process.env.update(env)
        processes.append(process)
        urls.append(f"ws://127.0.0.1:{port}/ws")
    stack = Stack(processes, env=running_stack.env, echo=False)
    stack.start()
    try:
        stack.wait_ready(timeout=60)
        yield Hubs(stack, processes, urls)
    finally:
        stack.stop()


def two_hubs(running_stack, **env: str) -> Iterator[Hubs]:
    """ws-a and ws-b, with the connection cap and roomy message limits these tests expect."""
    return more_hubs(
        running_stack,
        ("ws-a", "ws-b"),
        WS_MAX_CONNECTIONS_PER_USER=str(MAX_CONNECTIONS_PER_USER),
        **{**LIMITS, **env},
    )


@dataclass
class Chat:
    brand: User
    creator: User
    conversation_id: str
    application_id: str
    campaign_id: str


def accepted_chat(api) -> Chat:
    """Brand and creator whose accepted application opened a conversation (by the event)."""
    brand, creator = make_brand(api), make_creator(api)
    campaign = published_campaign(api, brand)
    application = accepted_application(api, brand, creator, campaign["id"])

    def opened():
        items = call(api, "GET", f"{A}/conversations", creator).json()["items"]
        return [c for c in items if c["application_id"] == application["id"]]

    conversation = wait_until(opened, timeout=20)[0]
    return Chat(brand, creator, conversation["id"], application["id"], campaign["id"])


class Client:
    """A WebSocket chat client that keeps every frame it has received, in order."""

    def __init__(self, url: str, user: User, **options) -> None:
        self.user = user
        self.ws = websocket.create_connection(
            url,
            header=[f"Authorization: Bearer {user.token}"],
            suppress_origin=True,
            timeout=15,
            **options,
        )
        self.frames: list[dict] = []

    def send(self, frame: dict | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def send_message(self, conversation_id: str, body: str, client_msg_id: str | None = None):
        client_msg_id = client_msg_id or uuid.uuid4().hex
        self.send(
            {
                "type": "send",
                "conversation_id": conversation_id,
                "client_msg_id": client_msg_id,
                "body": body,
            }
        )
        return client_msg_id

    def receive(self, timeout: float = 15.0) -> dict:
        self.ws.settimeout(timeout)
        frame = json.loads(self.ws.recv())
        self.frames.append(frame)
        return frame

    def until(self, predicate, timeout: float = 15.0) -> dict:
        """Receive until a frame matches; frames on the way are kept in self.frames."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching frame within {timeout}s: {self.frames[-5:]}")
            frame = self.receive(remaining)
            if predicate(frame):
                return frame

    def collect(self, kind: str, count: int, timeout: float = 30.0, **match) -> list[dict]:
        """The next `count` frames of type `kind` (matching `match`), other frames skipped."""
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"got {len(found)} of {count} {kind} frames")
            frame = self.receive(remaining)
            if of_type(kind, **match)(frame):
                found.append(frame)
        return found

    def close(self) -> None:
        self.ws.close()


def of_type(kind: str, **match):
    return lambda frame: frame["type"] == kind and all(frame.get(k) == v for k, v in match.items())


def drain_until_close(client: Client) -> tuple[list[str], int | None]:
    """Frames (error code or type) until the server closes; and the close code it sent."""
    seen: list[str] = []
    while True:
        try:
            opcode, data = client.ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return seen, None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return seen, int.from_bytes(data[:2], "big")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            frame = json.loads(data)
            seen.append(frame.get("code", frame["type"]))
