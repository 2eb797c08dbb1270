"""Helpers for chat e2e tests: a conversation between a brand and a creator, WebSocket clients."""

import json
import time
import uuid
from dataclasses import dataclass

import websocket

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
