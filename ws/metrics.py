"""ws metrics (names the dashboards and alerts expect, docs/operations.md)."""

import datetime as dt
from typing import Any

import prometheus_client

CONNECTIONS = prometheus_client.Gauge("ws_connections", "Open WebSocket connections here.")
FRAMES = prometheus_client.Counter(
    "ws_frames_total", "WebSocket frames by direction and type.", ["direction", "type"]
)
ERRORS = prometheus_client.Counter("ws_errors_total", "Error frames sent, by code.", ["code"])
HANDSHAKES = prometheus_client.Counter("ws_handshakes_total", "Handshakes by outcome.", ["outcome"])
DELIVERY_LATENCY = prometheus_client.Histogram(
    "ws_message_delivery_seconds",
    "From a chat message's created_at (stored by messaging) to its frame pushed to a socket here.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def delivery_seconds(message: dict[str, Any], now: dt.datetime | None = None) -> float | None:
    """Seconds since the message was stored; None without a parseable created_at. Clock skew
    between hosts below zero counts as zero."""
    created_at = message.get("created_at")
    if not isinstance(created_at, str):
        return None
    try:
        created = dt.datetime.fromisoformat(created_at)
    except ValueError:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return max(((now or dt.datetime.now(dt.UTC)) - created).total_seconds(), 0.0)
