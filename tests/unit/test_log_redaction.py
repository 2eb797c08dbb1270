"""No access token in any process's log (issue 10, item 12): config.yml's LOGGING, as every
process applies it, redacts a `jwt` query parameter in the access lines eventlet writes for the
gateway (logger nameko.web.server) and the chat hub (ws.access), and in any other line."""

import copy
import io
import logging
import logging.config
from collections.abc import Iterator

import eventlet
import pytest
import requests
from eventlet import wsgi

from kernel.config import load_config

TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.fixture
def platform_logging() -> Iterator[io.StringIO]:
    """config.yml's LOGGING applied, its console handler writing into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    config = copy.deepcopy(load_config()["LOGGING"])
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    buffer = io.StringIO()
    [handler] = [h for h in root.handlers if h.get_name() == "console"]
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.mark.parametrize("logger", ["nameko.web.server", "ws.access"])
def test_access_lines_of_the_gateway_and_the_hub_hold_no_token(platform_logging, logger):
    listener = eventlet.listen(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = eventlet.spawn(wsgi.server, listener, app, log=logging.getLogger(logger))
    try:
        for query in (f"jwt={TOKEN}", f"a=1&JWT={TOKEN}&b=2"):
            response = requests.get(f"http://127.0.0.1:{port}/ws?{query}", timeout=5)
            assert response.status_code == 200
    finally:
        server.kill()
        listener.close()
    text = platform_logging.getvalue()
    assert text.count("GET /ws?") == 2  # the lines were written, with what was asked
    assert text.count("=[redacted]") == 2
    assert TOKEN not in text and TOKEN.split(".")[2] not in text


def test_any_line_of_any_logger_is_redacted(platform_logging):
    logging.getLogger("gateway_http").warning("upstream failed for /ws?jwt=%s", TOKEN)
    assert "jwt=[redacted]" in platform_logging.getvalue()
    assert TOKEN not in platform_logging.getvalue()
