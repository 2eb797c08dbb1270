"""The hub's broadcast handlers on the real broker: every event reaches the hub's sockets in the
order it was published, and the hub's queue is consumed without acknowledgements (the broker
holds nothing for it awaiting an ack)."""

import uuid
from typing import Any
from urllib.parse import quote

import pytest
import requests
from nameko.standalone.events import event_dispatcher

from scripts.isolated_stack import RABBIT_API
from tests.chat_seed import message_sent_event
from tests.conftest import wait_until
from ws.fanout import fanout_service
from ws.hub import Hub

pytestmark = pytest.mark.integration


class RecordingOutlet:
    def __init__(self, user_id: str) -> None:
        self.id = str(uuid.uuid4())
        self.user_id = user_id
        self.session_id = str(uuid.uuid4())
        self.frames: list[dict[str, Any]] = []

    def push(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def end(self, code: int, reason: str) -> None:
        raise AssertionError("no socket is ended here")


def hub_consumers(config: dict[str, Any]) -> list[dict[str, Any]]:
    vhost = quote(config["AMQP_URI"].rsplit("/", 1)[1], safe="")
    response = requests.get(f"{RABBIT_API}/consumers/{vhost}", timeout=10)
    response.raise_for_status()
    return [c for c in response.json() if "ws_fanout" in c["queue"]["name"]]


def test_events_reach_the_sockets_in_order_from_queues_consumed_without_acks(
    container_factory, service_config
):
    hub = Hub()
    brand, creator = RecordingOutlet(str(uuid.uuid4())), RecordingOutlet(str(uuid.uuid4()))
    hub.add(brand)
    hub.add(creator)
    container = container_factory(fanout_service(hub), {**service_config, "max_workers": 1})
    container.start()

    wait_until(lambda: (found := hub_consumers(service_config)) and len(found) == 5)
    assert [c["ack_required"] for c in hub_consumers(service_config)] == [False] * 5

    conversation_id = str(uuid.uuid4())
    dispatch = event_dispatcher(service_config)
    for seq in range(1, 301):
        dispatch(
            "messaging",
            "message_sent",
            message_sent_event(conversation_id, brand.user_id, creator.user_id, seq),
        )

    wait_until(lambda: len(creator.frames) == 300)
    assert [frame["seq"] for frame in creator.frames] == list(range(1, 301))
    assert [frame["seq"] for frame in brand.frames] == list(range(1, 301))
