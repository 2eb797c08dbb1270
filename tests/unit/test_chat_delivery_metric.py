"""ws_message_delivery_seconds: from the message's created_at to its push, one per socket."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY

from ws.hub import Hub
from ws.metrics import delivery_seconds


@dataclass
class Outlet:
    id: str
    user_id: str
    session_id: str = "s"
    frames: list[dict[str, Any]] = field(default_factory=list)

    def push(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def end(self, code: int, reason: str) -> None:
        pass


def test_delivery_seconds_from_created_at():
    now = dt.datetime(2026, 1, 1, 12, 0, 1, tzinfo=dt.UTC)
    assert delivery_seconds({"created_at": "2026-01-01T12:00:00+00:00"}, now) == 1.0
    assert delivery_seconds({"created_at": "2026-01-01T12:00:05+00:00"}, now) == 0.0  # skew
    assert delivery_seconds({"created_at": "yesterday"}, now) is None
    assert delivery_seconds({}, now) is None


def test_each_socket_a_message_is_pushed_to_is_observed():
    def observed() -> float:
        return REGISTRY.get_sample_value("ws_message_delivery_seconds_count") or 0

    hub = Hub()
    for outlet in (Outlet("c1", "u1"), Outlet("c2", "u1"), Outlet("c3", "u2")):
        hub.add(outlet)
    before = observed()
    message = {"seq": 1, "created_at": dt.datetime.now(dt.UTC).isoformat()}
    delivered = hub.on_message_sent(
        {"participants": ["u1", "u2"], "message": message, "origin": "c3"}
    )
    assert delivered == 2
    assert observed() - before == 2
