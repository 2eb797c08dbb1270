"""The connection registry of one ws process and the routing of fanned-out events to sockets.

A frame for a socket is written at once if the kernel takes it without waiting; otherwise it goes
to that connection's bounded backlog, drained by a greenthread that lives only while the client
is behind, so one slow reader never delays delivery to the others; a reader that lets its backlog
fill up is closed (1008) and recovers with sync after reconnecting.
"""

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from ws.metrics import CONNECTIONS, DELIVERY_LATENCY, delivery_seconds
from ws.protocol import CLOSE_TOKEN_EXPIRED


class Outlet(Protocol):
    id: str
    user_id: str
    session_id: str

    def push(self, frame: dict[str, Any]) -> None: ...

    def end(self, code: int, reason: str) -> None: ...


class Hub:
    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, Outlet]] = defaultdict(dict)
        self.count = 0

    def add(self, connection: Outlet) -> int:
        """Register; returns how many connections the user now has here."""
        mine = self._by_user[connection.user_id]
        mine[connection.id] = connection
        self.count += 1
        CONNECTIONS.set(self.count)
        return len(mine)

    def remove(self, connection: Outlet) -> int:
        """Unregister; returns how many connections the user still has here."""
        mine = self._by_user.get(connection.user_id, {})
        if mine.pop(connection.id, None) is not None:
            self.count -= 1
            CONNECTIONS.set(self.count)
        if not mine:
            self._by_user.pop(connection.user_id, None)
        return len(mine)

    def connections_of(self, user_id: str) -> int:
        return len(self._by_user.get(user_id, {}))

    def users(self) -> list[str]:
        return list(self._by_user)

    def all(self) -> list[Outlet]:
        return [c for connections in self._by_user.values() for c in connections.values()]

    def deliver(
        self,
        user_ids: Iterable[str],
        frame: dict[str, Any],
        skip_connection: str | None = None,
        skip_user: str | None = None,
    ) -> int:
        delivered = 0
        for user_id in set(user_ids):
            if user_id == skip_user:
                continue
            for connection in list(self._by_user.get(user_id, {}).values()):
                if connection.id != skip_connection:
                    connection.push(frame)
                    delivered += 1
        return delivered

    # --- events from the broadcast handlers (every ws process gets each one) ----------------

    def on_message_sent(self, payload: dict[str, Any]) -> int:
        delivered = self.deliver(
            payload["participants"],
            {"type": "message", **payload["message"]},
            skip_connection=payload.get("origin"),
        )
        seconds = delivery_seconds(payload["message"])
        if seconds is not None:
            for _ in range(delivered):  # one per socket it was pushed to (or queued for)
                DELIVERY_LATENCY.observe(seconds)
        return delivered

    def on_conversation_read(self, payload: dict[str, Any]) -> int:
        frame = {
            "type": "read",
            "conversation_id": payload["conversation_id"],
            "user_id": payload["user_id"],
            "seq": payload["seq"],
        }
        return self.deliver(payload["participants"], frame)

    def on_typing(self, payload: dict[str, Any]) -> int:
        frame = {
            "type": "typing",
            "conversation_id": payload["conversation_id"],
            "user_id": payload["user_id"],
        }
        return self.deliver(payload["participants"], frame, skip_user=payload["user_id"])

    def on_presence(self, payload: dict[str, Any]) -> int:
        frame = {"type": "presence", "user_id": payload["user_id"], "status": payload["status"]}
        return self.deliver(payload["notify"], frame)

    def on_session_revoked(self, payload: dict[str, Any]) -> int:
        """auth ended a session (logout, refresh-token reuse): its sockets close with 4401."""
        ended = 0
        for connection in list(self._by_user.get(payload["user_id"], {}).values()):
            if connection.session_id == payload["session_id"]:
                connection.end(CLOSE_TOKEN_EXPIRED, "session revoked; sign in again")
                ended += 1
        return ended
