"""The floor for bench.ws: a bare eventlet WebSocket echo server (no auth, no JSON, no broker),
on the same eventlet.websocket.WebSocketWSGI the chat hub uses. `python -m bench.ws_floor PORT`.
"""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

from eventlet import wsgi  # noqa: E402
from eventlet.websocket import WebSocketWSGI  # noqa: E402


@WebSocketWSGI
def echo(ws):
    while True:
        frame = ws.wait()
        if frame is None:
            return
        ws.send(frame)


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "ok"}']
    return echo(environ, start_response)


if __name__ == "__main__":
    listener = eventlet.listen(("127.0.0.1", int(sys.argv[1])), backlog=4096)
    wsgi.server(listener, app, max_size=20_000, log_output=False)
