"""Odd input at the HTTP edge answers a 4xx problem+json, never a 500 or a connection reset:
deeply nested JSON, headers with non-ASCII digits, bodies over the limit (with Content-Length and
chunked), sent with real sockets."""

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.marketplace import call, make_brand, published_campaign

pytestmark = pytest.mark.e2e

A = "/api/v1"
OVERSIZE = 8 * 1024 * 1024  # the stack's limit is 1 MiB


def assert_problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    return problem


@pytest.mark.parametrize("depth", [100, 1_000, 5_000, 100_000])
def test_deeply_nested_json_is_a_400(api, depth):
    body = "[" * depth + "]" * depth
    response = requests.post(
        api.url(f"{A}/auth/register"),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=15,
    )
    problem = assert_problem(response, 400)
    assert "nested" in problem["detail"]


def test_deeply_nested_json_inside_an_accepted_shape_is_a_400(api):
    brand = make_brand(api)
    nested = {"events": [{"event_id": json.loads("[" * 200 + "]" * 200)}]}
    response = call(api, "POST", f"{A}/analytics/events", brand, nested)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "value",
    [
        "\u0663".encode(),  # Arabic-Indic three, as UTF-8
        b"\xb2",  # superscript two in Latin-1: str.isdigit() says yes, int() says no
        b'"\xb9"',
        b"99999999999999999999999",
        b'W/"-1"',
        b"\xff\xfe",
    ],
)
def test_odd_if_match_is_a_4xx(api, value):
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    status, head, body = raw_request(
        api,
        b"PATCH",
        f"{A}/campaigns/{campaign['id']}".encode(),
        [
            b"Authorization: Bearer " + brand.token.encode(),
            b"Content-Type: application/json",
            b"If-Match: " + value,
        ],
        b'{"title": "renamed"}',
    )
    assert 400 <= status < 500, (status, body)
    assert b"application/problem+json" in head


def raw_request(
    api, method: bytes, path: bytes, headers: list[bytes], body: bytes
) -> tuple[int, bytes, bytes]:
    """One request over a plain socket (headers exactly as given); read to EOF."""
    host, port = address(api)
    lines = [method + b" " + path + b" HTTP/1.1", f"Host: {host}".encode(), *headers]
    lines += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        return parse(read_all(sock))


def address(api) -> tuple[str, int]:
    parts = urlsplit(api.base_url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def parse(data: bytes) -> tuple[int, bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def oversized_exchange(
    api, token: str, chunked: bool, keep_alive: bool
) -> tuple[int, bytes, bytes]:
    """Send the whole oversized body, as a naive client does, then read the answer. A server
    that closes with unread input makes the kernel send RST: the client then gets a reset
    (while sending, or instead of the answer it had already received)."""
    host, port = address(api)
    payload = b'{"events": [' + b" " * OVERSIZE + b"]}"
    lines = [
        b"POST /api/v1/analytics/events HTTP/1.1",
        f"Host: {host}".encode(),
        b"Content-Type: application/json",
        b"Authorization: Bearer " + token.encode(),  # a chunked body is read once authorised
        b"Connection: keep-alive" if keep_alive else b"Connection: close",
    ]
    lines.append(b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(payload))
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        step = 64 * 1024
        for start in range(0, len(payload), step):
            piece = payload[start : start + step]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < content_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return parse(data)


def content_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("keep_alive", [False, True], ids=["close", "keep-alive"])
def test_a_body_over_the_limit_always_gets_its_413(api, chunked, keep_alive):
    brand = make_brand(api)

    def exchange(_: int) -> tuple[int, bytes, bytes]:
        return oversized_exchange(api, brand.token, chunked, keep_alive)

    with ThreadPoolExecutor(4) as pool:  # several at once: the server is busy meanwhile
        answers = list(pool.map(exchange, range(4)))
    for status, head, body in answers:
        assert status == 413, (head, body[:200])
        assert b"application/problem+json" in head
        assert json.loads(body)["status"] == 413
