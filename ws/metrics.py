"""ws metrics (names the dashboards and alerts expect, docs/operations.md)."""

import prometheus_client

CONNECTIONS = prometheus_client.Gauge("ws_connections", "Open WebSocket connections here.")
FRAMES = prometheus_client.Counter(
    "ws_frames_total", "WebSocket frames by direction and type.", ["direction", "type"]
)
ERRORS = prometheus_client.Counter("ws_errors_total", "Error frames sent, by code.", ["code"])
HANDSHAKES = prometheus_client.Counter("ws_handshakes_total", "Handshakes by outcome.", ["outcome"])
