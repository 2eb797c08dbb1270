"""Edge parsing of odd input without a server: JSON nesting, If-Match values."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway_http.bodies import read_json
from gateway_http.caller import expected_version
from kernel.errors import MalformedJson
from kernel.json_text import MAX_JSON_DEPTH, nesting_exceeds


def json_request(body: bytes) -> Request:
    return Request(
        EnvironBuilder(method="POST", data=body, content_type="application/json").get_environ()
    )


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_json_nested_too_deep_is_malformed(depth):
    with pytest.raises(MalformedJson):
        read_json(json_request(b"[" * depth + b"]" * depth))


def test_json_nested_to_the_limit_is_read():
    depth = MAX_JSON_DEPTH
    assert read_json(json_request(b'{"a":' * (depth - 1) + b"[]" + b"}" * (depth - 1)))
    assert not nesting_exceeds({"a": [1, {"b": []}]}, 4)
    assert nesting_exceeds({"a": [1, {"b": []}]}, 3)


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ('"7"', 7),
        ('W/"12"', 12),
        ("*", None),
        ("\u0663", -1),  # Arabic-Indic three: str.isdigit() accepts it
        ("\u00b2", -1),  # superscript two: str.isdigit() accepts it, int() refuses it
        ("9" * 30, -1),
        ('"-1"', -1),
        ("", -1),
    ],
)
def test_if_match_names_a_version_in_ascii_digits_or_none(header, version):
    request = Request(EnvironBuilder(headers={"If-Match": header}).get_environ())
    assert expected_version(request) == version
