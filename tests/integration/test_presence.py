"""Presence across ws processes in real Redis."""

import time

import pytest

from ws.presence import Presence

pytestmark = pytest.mark.integration


def test_online_while_any_process_holds_a_socket(redis_client):
    first, second = Presence(redis_client, "hub-1", 30), Presence(redis_client, "hub-2", 30)
    assert first.connected("ava") is True  # offline everywhere before: announce
    assert second.connected("ava") is False  # already online through hub-1
    assert first.disconnected("ava") is False  # hub-2 still holds a socket
    assert first.online_among(["ava", "max"]) == ["ava"]
    assert second.disconnected("ava") is True
    assert first.online_among(["ava", "max"]) == []


def test_a_crashed_process_stops_vouching_after_the_ttl(redis_client):
    crashed = Presence(redis_client, "hub-dead", 30)
    crashed.connected("ava")
    assert crashed.is_online("ava")
    assert not crashed.is_online("ava", now=time.time() + 31)
    assert 0 < redis_client.ttl("ws:presence:ava") <= 30  # and the key goes away by itself


def test_refresh_extends_the_deadline(redis_client):
    hub = Presence(redis_client, "hub-1", 30)
    hub.connected("ava")
    before = float(redis_client.hget("ws:presence:ava", "hub-1"))
    hub.refresh(["ava"])
    assert float(redis_client.hget("ws:presence:ava", "hub-1")) >= before
