"""One client socket: reads frames, answers each one, writes without a greenthread of its own
while the client keeps up. Nothing a client sends can end the handler with an exception: every
frame is answered (ack, messages, or an error frame) or, for the few cases below, the socket is
closed with a code from ws.protocol.

Deadlines (idle timeout, token expiry) are kept by one sweeper for all sockets (`end_overdue`),
which also serves revocations (`ChatConnection.end`): a reader waiting for a frame is woken by an
exception thrown into it, the way eventlet.Timeout does it, never while it handles a frame."""

import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import eventlet
from eventlet.greenthread import GreenThread
from eventlet.hubs import get_hub
from eventlet.queue import LightQueue
from eventlet.websocket import ConnectionClosedError
from greenlet import GreenletExit

from kernel.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from kernel.tokens import AccessClaims
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
from ws.rpc import RpcPool, SendBatcher
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
# Presence work (partners lookup by RPC, Redis, presence events) for new and gone sockets is done
# by this many workers per hub, in arrival order: a reconnect storm of thousands of sockets must
# neither queue message sends behind its lookups nor hold a greenthread per waiting socket.
PRESENCE_WORKERS = 2
_numbers = itertools.count(1)


class PresenceWorkers:
    """A few greenthreads doing presence work that sockets queue up."""

    def __init__(self, size: int = PRESENCE_WORKERS) -> None:
        self.work: LightQueue = LightQueue()
        self.workers = [eventlet.spawn(self._work) for _ in range(size)]

    def submit(self, action: Any, *args: Any) -> None:
        self.work.put((action, args))

    def _work(self) -> None:
        while True:
            action, args = self.work.get()
            try:
                action(*args)
            except Exception:
                log.warning("presence update failed", exc_info=True)

    def stop(self) -> None:
        for worker in self.workers:
            worker.kill()


@dataclass
class ChatServices:
    """What every connection of this process shares."""

    settings: WsSettings
    hub: Hub
    rpc: RpcPool
    sends: SendBatcher
    events: EventPublisher
    presence: Presence
    process_id: str
    presence_workers: PresenceWorkers


class SocketEnded(BaseException):
    """Thrown into a reader waiting for a frame to end its socket with a close code. Not an
    Exception (like eventlet.Timeout), so eventlet's frame reader lets it through untouched."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class ChatConnection:
    # Thousands of these live in one process: slots, and nothing per socket that isn't needed.
    __slots__ = (
        "access_token",
        "backlog",
        "closed",
        "ending",
        "id",
        "last_frame_at",
        "participants",
        "partners",
        "patience",
        "rate",
        "reader",
        "refused",
        "services",
        "session_id",
        "token_expires_at",
        "user_id",
        "waiting",
        "writer",
        "ws",
    )

    def __init__(
        self, ws: Any, claims: AccessClaims, access_token: str, services: ChatServices
    ) -> None:
        settings = services.settings
        self.ws = ws
        self.services = services
        self.id = f"{services.process_id}/{next(_numbers)}"
        self.user_id = claims.subject
        self.session_id = claims.session_id
        self.access_token = access_token  # messaging verifies it on every call
        self.token_expires_at = float(claims.expires_at)
        self.rate = TokenBucket(settings.messages_per_second, settings.burst)
        # Refused frames use up patience; a client that keeps flooding runs out and is closed.
        self.patience = TokenBucket(1.0, settings.flood_close_after)
        self.refused = False  # a frame of the message being received was over the rate limit
        self.last_frame_at = time.monotonic()
        self.participants: dict[str, list[str]] | None = None
        self.partners: list[str] | None = None
        self.closed = False
        self.ending: tuple[int, str] | None = None  # why the socket is to end, once it is
        self.reader: Any = None  # the greenthread running run()
        self.waiting = False  # the reader is waiting for a frame (and may be interrupted)
        # Frames not yet written, and the greenthread writing them: both exist only while the
        # client is behind; otherwise push() writes straight to the socket.
        self.backlog: deque[Any] | None = None
        self.writer: GreenThread | None = None

    # --- outbound -------------------------------------------------------------------------

    def push(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        if frame["type"] == "error":
            ERRORS.labels(frame["code"]).inc()
        self._deliver(frame)

    def _deliver(self, item: dict[str, Any] | tuple[int, str]) -> None:
        """Write a frame (or close: a (code, reason) tuple) after everything before it."""
        if self.backlog is not None:
            if len(self.backlog) >= self.services.settings.outbound_queue:
                self._too_slow()
            else:
                self.backlog.append(item)
            return
        if isinstance(item, tuple):
            self.close_now(*item)
            return
        data = self.ws.frame_bytes(encode(item))
        try:
            sent = self.ws.write_nowait(data)
        except OSError:
            self.closed = True
            return
        FRAMES.labels("out", item["type"]).inc()
        if sent < len(data):  # the client is behind: a writer finishes, and takes what follows
            self.backlog = deque()
            self.writer = eventlet.spawn(self._write_behind, data[sent:], sent)

    def _write_behind(self, rest: bytes, partly_written: int) -> None:
        ws = self.ws
        try:
            if partly_written:
                ws.write_rest(rest)  # write_nowait kept the send lock for this
            else:
                ws._send(rest)
            while self.backlog:
                item = self.backlog.popleft()
                if isinstance(item, tuple):  # a close, after every frame queued before it
                    self.backlog = None
                    self.close_now(*item)
                    return
                ws.send(encode(item))
                FRAMES.labels("out", item["type"]).inc()
        except OSError:
            self.closed = True
        finally:
            self.backlog = None
            self.writer = None

    def _too_slow(self) -> None:
        """Drop what is queued (the client syncs after reconnecting) and close, without making
        the caller (the fan-out) wait for a client that does not read."""
        self.closed = True
        self.backlog = None
        if self.writer is not None:
            self.writer.kill()
        eventlet.spawn_n(
            self.close_now, CLOSE_POLICY, "too slow reading frames; reconnect and sync"
        )

    def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued (the client sees why, then the close code)."""
        if self.closed:
            return
        self.closed = True
        self._deliver((code, reason))

    def close_now(self, code: int, reason: str) -> None:
        self.closed = True
        log.info("closing %s of %s: %s %s", self.id, self.user_id, code, reason)
        with contextlib.suppress(OSError):
            self.ws.close(close_data=(code, reason))

    def end(self, code: int, reason: str) -> None:
        """End the socket from outside its reader (sweeper, revocation): at once if the reader
        is waiting for a frame, else right after the frame it is handling."""
        if self.closed or self.ending is not None:
            return
        self.ending = (code, reason)
        if self.waiting:
            get_hub().schedule_call_global(0, self._interrupt)

    def _interrupt(self) -> None:
        if self.waiting and self.ending is not None:
            self.reader.throw(SocketEnded(*self.ending))

    # --- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        services = self.services
        self.reader = eventlet.getcurrent()
        self.ws.frame_arrived = self._frame_arrived
        first_here = services.hub.add(self) == 1
        services.presence_workers.submit(self._came_online, first_here)
        try:
            self._read_loop()
        finally:
            self.closed = True
            if services.hub.remove(self) == 0:
                services.presence_workers.submit(self._went_offline)
            writer = self.writer
            if writer is not None:  # let it flush (and send our close code)
                with (
                    eventlet.Timeout(WRITER_DRAIN_SECONDS, False),
                    contextlib.suppress(GreenletExit),
                ):
                    writer.wait()
                writer.kill()
            self.ws.frame_arrived = None
            self.reader = None

    def _read_loop(self) -> None:
        while not self.closed and self.ending is None:
            self.waiting = True
            try:
                raw = self.ws.wait()
            except OSError:
                return  # the socket went away (or push() closed it for a slow reader)
            except SocketEnded:
                raw = None
            finally:
                self.waiting = False
            if raw is None:
                break
            self.handle(raw)
        if self.ending is not None:
            self.close(*self.ending)

    def _frame_arrived(self) -> None:
        """Each frame (continuation and control frames too) takes from the rate limit as it
        arrives; a message with a frame over the limit is refused with rate_limited."""
        self.last_frame_at = time.monotonic()
        if self.rate.take():
            return
        self.refused = True
        if not self.patience.take():
            self.ending = (CLOSE_POLICY, "too many frames after rate_limited errors")
            raise ConnectionClosedError()  # stops eventlet's reader; _read_loop closes

    def handle(self, raw: str | bytes) -> None:
        frame_type = "invalid"
        try:
            if self.refused:
                self.refused = False
                frame_type = "refused"
                raise ProtocolError(
                    "rate_limited",
                    f"at most {self.services.settings.messages_per_second:g} frames per second",
                )
            frame = parse_client_frame(raw, self.services.settings.max_frame_bytes)
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
        sent = self.services.sends.send(
            self.access_token,
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
        if self.participants is None:
            self.participants = {}
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

    # Run by the PresenceWorkers, in the order the sockets came and went.

    def _partners(self) -> list[str]:
        if self.partners is None:
            self.partners = list(self._rpc("partners"))
        return self.partners

    def _came_online(self, first_here: bool) -> None:
        if self.closed:
            return  # gone before its turn: _went_offline is queued behind
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


def end_overdue(connections: Iterable[ChatConnection], idle_timeout_seconds: float) -> int:
    """The sweeper's pass over every socket: ends those whose access token has expired (4401)
    or that sent nothing for the idle timeout (4408). Returns how many it ended."""
    now, clock, ended = time.time(), time.monotonic(), 0
    for connection in connections:
        if now >= connection.token_expires_at:
            connection.end(CLOSE_TOKEN_EXPIRED, "access token expired")
        elif clock - connection.last_frame_at >= idle_timeout_seconds:
            connection.end(CLOSE_IDLE, "idle timeout")
        else:
            continue
        ended += 1
    return ended
