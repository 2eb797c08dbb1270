"""eventlet's WebSocket, adapted to the chat hub.

- Size: a message is limited in total, across its continuation frames, not only per frame: the
  socket is failed with 1009 as soon as the bytes of one message pass the limit, so a client
  cannot make the hub buffer an endless fragmented message.
- Rate: `frame_arrived` is called as each frame starts to arrive (continuation and control
  frames included), so the connection's rate limit counts frames, not assembled messages.
- Writing without a writer greenthread: `write_nowait` writes a frame only as far as the kernel
  takes it right now; the connection hands a remainder to a greenthread of its own only while the
  client falls behind.
- A lingering close: when a server closes a TCP socket that still has unread incoming data (a
  client that is flooding, or the rest of an oversized message), the kernel answers with a reset,
  and the client may lose the close frame (and the error frames before it) that were already on
  their way. So after sending the close frame this socket stops writing, reads and discards what
  still arrives for a moment (at most LINGER_BYTES), and only then closes.
- Masking in one integer XOR instead of eventlet's loop over every byte in Python (a 64 KiB frame
  cost ~20 ms of the hub's only CPU).
"""

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.hubs import IOClosed, trampoline
from eventlet.websocket import (
    ConnectionClosedError,
    FailedConnectionError,
    RFC6455WebSocket,
    WebSocketWSGI,
)

LINGER_SECONDS = 2.0
# What may still be in flight when the close frame leaves: both sides' socket buffers, which on
# loopback and fast links hold megabytes. Stopping short of it resets the connection and the
# client loses the close frame (seen as close code None instead of 1009 under load).
LINGER_BYTES = 8 * 1024 * 1024
# A browser cannot set an Authorization header on a WebSocket; it offers the subprotocols
# `bearer, <token>` instead, and the hub answers `Sec-WebSocket-Protocol: bearer`.
BEARER_PROTOCOL = "bearer"


def _ignore_frame() -> None:
    return None


class LimitedMessage(RFC6455WebSocket.Message):
    """A message being received; fails the connection (1009) once its bytes pass the limit,
    counted over every frame of the message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.size = 0

    def push(self, data: bytes, final: bool = False) -> None:
        self.size += len(data)
        if self.size > self.max_frame_length:
            raise FailedConnectionError(
                1009, f"a message is limited to {self.max_frame_length} bytes"
            )
        super().push(data, final)


class ChatWebSocket(RFC6455WebSocket):
    Message = LimitedMessage  # eventlet creates each message through self.Message
    # Replaced by the connection; called with no arguments as each frame's first bytes arrive.
    frame_arrived: Callable[[], None] = staticmethod(_ignore_frame)

    @staticmethod
    def _apply_mask(
        data: bytes, mask: tuple[int, ...], length: int | None = None, offset: int = 0
    ) -> bytes:
        length = len(data) if length is None else length
        key = bytes(mask[(offset + i) % 4] for i in range(4))
        stream = (key * (length // 4 + 1))[:length]
        masked = int.from_bytes(data[:length], "big") ^ int.from_bytes(stream, "big")
        return masked.to_bytes(length, "big")

    def _recv_frame(self, message: Any = None) -> Any:
        # Wait for the frame here rather than deep in eventlet's recv: an idle socket's
        # greenthread then keeps a shorter stack (memory per socket, issue 13).
        try:
            trampoline(self.socket, read=True)
        except IOClosed:  # closed by another greenthread (a close from the hub)
            raise ConnectionClosedError() from None
        self.frame_arrived()
        return super()._recv_frame(message)

    def frame_bytes(self, text: str) -> bytes:
        """One unmasked text frame, ready for write_nowait."""
        return self._pack_message(text)

    def write_nowait(self, data: bytes) -> int:
        """Write as much of `data` as the kernel takes now, without waiting: returns how many
        bytes went out (0 also when another write is in progress). A frame written in part keeps
        the send lock: the caller finishes it with write_rest()."""
        if not self._sendlock.acquire(blocking=False):
            return 0
        try:
            sent = self.socket.fd.send(data)
        except BlockingIOError:
            sent = 0
        except BaseException:
            self._sendlock.release()
            raise
        if sent == 0 or sent == len(data):
            self._sendlock.release()
        return sent

    def write_rest(self, rest: bytes) -> None:
        """Finish a frame that write_nowait wrote in part (waits for the client), then unlock."""
        try:
            self.socket.sendall(rest)
        finally:
            self._sendlock.release()

    def close(self, close_data: Any = None) -> None:
        try:
            with eventlet.Timeout(LINGER_SECONDS, False):  # a client that doesn't read gets none
                self._send_closing_frame(close_data=close_data, ignore_send_errors=True)
            self.websocket_closed = True
            self.socket.shutdown(socket.SHUT_WR)
            discarded = 0
            with eventlet.Timeout(LINGER_SECONDS, False):
                while discarded < LINGER_BYTES and (chunk := self.socket.recv(65536)):
                    discarded += len(chunk)
        except (OSError, RuntimeError):
            # RuntimeError: the connection's reader is in recv() right now (eventlet allows one
            # reader per socket); it sees the client's close or EOF itself.
            pass
        finally:
            with contextlib.suppress(OSError):
                self.socket.close()


class ChatWebSocketWSGI(WebSocketWSGI):
    # Called as a method, not through the instance: each call through __call__ is one more level
    # of C stack that every open socket's greenthread keeps (~0.5 KiB each).
    upgrade = WebSocketWSGI.__call__

    def __init__(self, handler: Callable[[Any], None], max_frame_length: int) -> None:
        super().__init__(handler, max_frame_length=max_frame_length)
        self.supported_protocols = [BEARER_PROTOCOL]

    def _handle_hybi_request(self, environ: dict[str, Any]) -> Any:
        ws = super()._handle_hybi_request(environ)
        ws.__class__ = ChatWebSocket  # same state; reading, writing and closing differ
        return ws
