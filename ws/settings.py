"""ws settings from config.yml's WS section."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WsSettings:
    host: str
    port: int
    allowed_origins: frozenset[str]
    max_frame_bytes: int
    messages_per_second: float
    burst: int
    flood_close_after: int
    max_connections_per_user: int
    max_connections: int
    idle_timeout_seconds: float
    presence_ttl_seconds: int
    outbound_queue: int
    rpc_pool_size: int
    rpc_timeout_seconds: float
    redis_connections: int

    @property
    def hard_frame_bytes(self) -> int:
        """Frames above this close the socket (1009) before they are even read whole; between
        max_frame_bytes and this they get an error frame and the connection lives on."""
        return self.max_frame_bytes * 4

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "WsSettings":
        ws = config["WS"]
        host, _, port = str(ws["ADDRESS"]).rpartition(":")
        origins = str(ws.get("ALLOWED_ORIGINS") or "")
        return cls(
            host=host or "127.0.0.1",
            port=int(port),
            allowed_origins=frozenset(o.strip() for o in origins.split(",") if o.strip()),
            max_frame_bytes=int(ws["MAX_FRAME_BYTES"]),
            messages_per_second=float(ws["MESSAGES_PER_SECOND"]),
            burst=int(ws["BURST"]),
            flood_close_after=int(ws["FLOOD_CLOSE_AFTER"]),
            max_connections_per_user=int(ws["MAX_CONNECTIONS_PER_USER"]),
            max_connections=int(ws["MAX_CONNECTIONS"]),
            idle_timeout_seconds=float(ws["IDLE_TIMEOUT_SECONDS"]),
            presence_ttl_seconds=int(ws["PRESENCE_TTL_SECONDS"]),
            outbound_queue=int(ws["OUTBOUND_QUEUE"]),
            rpc_pool_size=int(ws["RPC_POOL_SIZE"]),
            rpc_timeout_seconds=float(ws["RPC_TIMEOUT_SECONDS"]),
            redis_connections=int(ws["REDIS_CONNECTIONS"]),
        )
