"""eventlet's WebSocket with a lingering close.

When a server closes a TCP socket that still has unread incoming data (a client that is flooding,
or the rest of an oversized frame), the kernel answers with a reset, and the client may lose the
close frame (and the error frames before it) that were already on their way. So after sending
the close frame this socket stops writing, reads and discards whatever still arrives for a
moment, and only then closes.
"""

import contextlib
import socket
from typing import Any

import eventlet
from eventlet.websocket import RFC6455WebSocket, WebSocketWSGI

LINGER_SECONDS = 2.0


class LingeringWebSocket(RFC6455WebSocket):
    def close(self, close_data: Any = None) -> None:
        try:
            self._send_closing_frame(close_data=close_data, ignore_send_errors=True)
            self.socket.shutdown(socket.SHUT_WR)
            with eventlet.Timeout(LINGER_SECONDS, False):
                while self.socket.recv(65536):
                    pass
        except (OSError, RuntimeError):
            # RuntimeError: the connection's reader is in recv() right now (eventlet allows one
            # reader per socket); it sees the client's close or EOF itself.
            pass
        finally:
            with contextlib.suppress(OSError):
                self.socket.close()


class LingeringWebSocketWSGI(WebSocketWSGI):
    def _handle_hybi_request(self, environ: dict[str, Any]) -> Any:
        ws = super()._handle_hybi_request(environ)
        ws.__class__ = LingeringWebSocket  # same state, only close() differs
        return ws
