"""One client socket: reads frames with an idle deadline, answers each one, writes through its
own queue. Nothing a client sends can end the handler with an exception: every frame is answered
(ack, messages, or an error frame) or, for the few cases below, the socket is closed with a code
from ws.protocol."""

import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import eventlet
from eventlet.queue import Full, LightQueue
from eventlet.semaphore import Semaphore

from services.common.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from services.common.tokens import AccessClaims
from ws.fanout import EventPublisher
from ws.hub import Hub
from ws.limits import TokenBucket
from ws.metrics import ERRORS, FRAMES
from ws.presence import Presence
from ws.protocol import (
    CLOSE_IDLE,
    CLOSE_POLICY,
    CLOSE_TOKEN_EXPIRED,
    ClientFrame,
    PingFrame,
    ProtocolError,
    ReadFrame,
    SendFrame,
    SyncFrame,
    TypingFrame,
    encode,
    error_frame,
    parse_client_frame,
)
from ws.rpc import RpcPool
from ws.settings import WsSettings

log = logging.getLogger("ws")

WRITER_DRAIN_SECONDS = 5.0
SYNC_PAGE = 100
SYNC_MAX = 1000  # per sync frame; `synced.more` tells the client to ask again from last_seq
ERROR_CODES: list[tuple[type[DomainError], str]] = [
    (NotFound, "not_found"),
    (Forbidden, "forbidden"),
    (InvalidInput, "invalid_input"),
    (ServiceUnavailable, "unavailable"),
]
# Of the RPC pool's connections, at most this many look up presence partners at once: a reconnect
# storm of thousands of sockets must not queue message sends behind their lookups.
PRESENCE_LOOKUPS_IN_FLIGHT = 2
_numbers = itertools.count(1)


@dataclass
class ChatServices:
    """What every connection of this process shares."""

    settings: WsSettings
    hub: Hub
    rpc: RpcPool
    events: EventPublisher
    presence: Presence
    process_id: str
    presence_lookups: Semaphore = field(
        default_factory=lambda: Semaphore(PRESENCE_LOOKUPS_IN_FLIGHT)
    )


class ChatConnection:
    def __init__(
        self, ws: Any, claims: AccessClaims, access_token: str, services: ChatServices
    ) -> None:
        self.ws = ws
        self.services = services
        self.settings = services.settings
        self.id = f"{services.process_id}/{next(_numbers)}"
        self.user_id = claims.subject
        self.access_token = access_token  # messaging verifies it on every call
        self.token_expires_at = float(claims.expires_at)
        self.rate = TokenBucket(self.settings.messages_per_second, self.settings.burst)
        # Refused frames use up patience; a client that keeps flooding runs out and is closed.
        self.patience = TokenBucket(1.0, self.settings.flood_close_after)
        self.outbound: LightQueue = LightQueue(self.settings.outbound_queue)
        self.participants: dict[str, list[str]] = {}
        self.partners: list[str] | None = None
        self.closed = False

    # --- outbound -------------------------------------------------------------------------

    def push(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        if frame["type"] == "error":
            ERRORS.labels(frame["code"]).inc()
        try:
            self.outbound.put_nowait(frame)
        except Full:
            self.close_now(CLOSE_POLICY, "too slow reading frames; reconnect and sync")

    def _write(self) -> None:
        while True:
            item = self.outbound.get()
            if item is None:
                return
            if isinstance(item, tuple):  # a close, after every frame queued before it
                self.close_now(*item)
                return
            try:
                self.ws.send(encode(item))
            except OSError:
                return
            FRAMES.labels("out", item["type"]).inc()

    def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued (the client sees why, then the close code)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.outbound.put_nowait((code, reason))
        except Full:
            self.close_now(code, reason)

    def close_now(self, code: int, reason: str) -> None:
        self.closed = True
        log.info("closing %s of %s: %s %s", self.id, self.user_id, code, reason)
        with contextlib.suppress(OSError):
            self.ws.close(close_data=(code, reason))

    # --- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        hub = self.services.hub
        first_here = hub.add(self) == 1
        writer = eventlet.spawn(self._write)
        eventlet.spawn_n(self._guarded, self._came_online, first_here)
        try:
            self._read_loop()
        finally:
            self.closed = True
            if hub.remove(self) == 0:
                eventlet.spawn_n(self._guarded, self._went_offline)
            with contextlib.suppress(Full):
                self.outbound.put_nowait(None)
            # Let the writer flush (and send our close code) before eventlet closes the socket.
            with eventlet.Timeout(WRITER_DRAIN_SECONDS, False):
                writer.wait()
            writer.kill()

    def _read_loop(self) -> None:
        while not self.closed:
            now = time.time()
            idle_until = now + self.settings.idle_timeout_seconds
            deadline = min(idle_until, self.token_expires_at)
            try:
                with eventlet.Timeout(max(0.0, deadline - now)):
                    raw = self.ws.wait()
            except OSError:
                return  # the socket went away (or push() closed it for a slow reader)
            except eventlet.Timeout:
                if time.time() >= self.token_expires_at:
                    self.close(CLOSE_TOKEN_EXPIRED, "access token expired")
                else:
                    self.close(CLOSE_IDLE, "idle timeout")
                return
            if raw is None:
                return
            self.handle(raw)

    def handle(self, raw: str | bytes) -> None:
        frame_type = "invalid"
        try:
            if not self.rate.take():
                frame_type = "refused"
                if not self.patience.take():
                    self.close(CLOSE_POLICY, "too many frames after rate_limited errors")
                    return
                raise ProtocolError(
                    "rate_limited",
                    f"at most {self.settings.messages_per_second:g} frames per second",
                )
            frame = parse_client_frame(raw, self.settings.max_frame_bytes)
            frame_type = frame.type
            self.dispatch(frame)
        except ProtocolError as error:
            self.push(error.frame())
        except DomainError as error:
            self.push(self._domain_error(error))
        except Exception:
            log.exception("frame from %s failed", self.id)
            self.push(error_frame("internal", "the frame could not be processed"))
        finally:
            FRAMES.labels("in", frame_type).inc()

    @staticmethod
    def _domain_error(error: DomainError) -> dict[str, Any]:
        code = next((c for kind, c in ERROR_CODES if isinstance(error, kind)), "rejected")
        details: dict[str, Any] = {}
        if error.errors and isinstance(error, InvalidInput):
            details["errors"] = error.errors
        return error_frame(code, error.detail, **details)

    # --- frames ---------------------------------------------------------------------------

    def dispatch(self, frame: ClientFrame) -> None:
        try:
            if isinstance(frame, PingFrame):
                self.push({"type": "pong"})
            elif isinstance(frame, SendFrame):
                self.send(frame)
            elif isinstance(frame, SyncFrame):
                self.sync(frame)
            elif isinstance(frame, TypingFrame):
                self.typing(frame)
            elif isinstance(frame, ReadFrame):
                self.read(frame)
        except DomainError as error:
            context = {"conversation_id": getattr(frame, "conversation_id", None)}
            if isinstance(frame, SendFrame):
                context["client_msg_id"] = frame.client_msg_id
            self.push({**self._domain_error(error), **context})

    def _rpc(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.services.rpc.call(self.access_token, "messaging", method, *args, **kwargs)

    def send(self, frame: SendFrame) -> None:
        sent = self._rpc(
            "send_message",
            frame.conversation_id,
            {"client_msg_id": frame.client_msg_id, "body": frame.body},
            origin=self.id,
        )
        message = sent["message"]
        self.push(
            {
                "type": "ack",
                "conversation_id": message["conversation_id"],
                "client_msg_id": message["client_msg_id"],
                "seq": message["seq"],
                "id": message["id"],
                "created_at": message["created_at"],
                "duplicate": sent["duplicate"],
            }
        )

    def sync(self, frame: SyncFrame) -> None:
        after, sent, more = frame.after_seq, 0, True
        while more and sent < SYNC_MAX:
            found = self._rpc(
                "history",
                frame.conversation_id,
                {"after_seq": str(after), "limit": str(SYNC_PAGE)},
            )
            for message in found["items"]:
                self.push({"type": "message", **message})
                after = message["seq"]
                sent += 1
            more = found["next_cursor"] is not None
        self.push(
            {
                "type": "synced",
                "conversation_id": frame.conversation_id,
                "last_seq": after,
                "more": more,
            }
        )

    def typing(self, frame: TypingFrame) -> None:
        participants = self.participants.get(frame.conversation_id)
        if participants is None:
            conversation = self._rpc("get_conversation", frame.conversation_id)
            participants = conversation["participants"]
            self.participants[frame.conversation_id] = participants
        if self.user_id not in participants:
            raise Forbidden("only the participants write to a conversation")
        self.services.events.publish(
            "typing",
            {
                "conversation_id": frame.conversation_id,
                "user_id": self.user_id,
                "participants": participants,
            },
        )

    def read(self, frame: ReadFrame) -> None:
        self._rpc("mark_read", frame.conversation_id, {"seq": frame.seq})

    # --- presence -------------------------------------------------------------------------

    def _guarded(self, action: Any, *args: Any) -> None:
        try:
            action(*args)
        except Exception:
            log.warning("presence update for %s failed", self.user_id, exc_info=True)

    def _partners(self) -> list[str]:
        if self.partners is None:
            with self.services.presence_lookups:
                self.partners = list(self._rpc("partners"))
        return self.partners

    def _came_online(self, first_here: bool) -> None:
        presence = self.services.presence
        partners = self._partners()
        if first_here and presence.connected(self.user_id) and partners:
            self.services.events.publish(
                "presence", {"user_id": self.user_id, "status": "online", "notify": partners}
            )
        for partner in presence.online_among(partners):
            self.push({"type": "presence", "user_id": partner, "status": "online"})

    def _went_offline(self) -> None:
        if self.services.hub.connections_of(self.user_id):
            return  # reconnected here meanwhile
        if self.services.presence.disconnected(self.user_id) and self._partners():
            self.services.events.publish(
                "presence",
                {"user_id": self.user_id, "status": "offline", "notify": self._partners()},
            )
