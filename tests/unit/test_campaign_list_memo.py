"""The gateway's memo of cached campaign pages: one per generation, read from Redis once."""

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway_http import campaign_lists
from gateway_http.campaign_lists import CachedCampaignLists, public_query
from services.campaigns.cache import KEY_PREFIX, query_digest


class FakeRedis:
    def __init__(self):
        self.data: dict[str, str] = {}
        self.gets = 0

    def register_script(self, script):
        return lambda keys, args: None

    def get(self, key):
        self.gets += 1
        return self.data.get(key)


def request(query_string):
    environ = EnvironBuilder(path="/api/v1/campaigns", query_string=query_string).get_environ()
    return Request(environ)


def page(lists, role, query_string, generation):
    return lists.page_for_request(role, request(query_string), generation)


def key(generation, query):
    return f"{KEY_PREFIX}{generation}:{query_digest(public_query('creator', query))}"


def test_a_page_is_read_once_per_generation_and_dropped_with_it():
    client = FakeRedis()
    lists = CachedCampaignLists(client)
    client.data[key("0", {})] = '{"items": [], "next_cursor": null}'
    assert page(lists, "creator", "", "") == b'{"items": [], "next_cursor": null}'
    assert page(lists, "creator", "", "") == b'{"items": [], "next_cursor": null}'
    assert client.gets == 1
    client.data[key("1", {})] = '{"items": [1], "next_cursor": null}'
    assert page(lists, "creator", "", "1") == b'{"items": [1], "next_cursor": null}'
    assert client.gets == 2
    assert page(lists, "creator", "limit=5", "1") is None  # not cached: ask the service
    assert page(lists, "creator", "mine=true", "1") is None  # never from the cache
    assert page(lists, "admin", "", "1") is None
    assert client.gets == 3


def test_the_memo_is_bounded():
    client = FakeRedis()
    lists = CachedCampaignLists(client, max_pages=2)
    for limit in range(1, 4):
        client.data[key("2", {"limit": str(limit)})] = "{}"
        assert page(lists, "creator", f"limit={limit}", "2") == b"{}"
    assert len(lists._pages) == 2


def test_a_query_string_is_validated_once_and_the_memo_is_bounded(monkeypatch):
    client = FakeRedis()
    lists = CachedCampaignLists(client)
    client.data[key("3", {"limit": "5"})] = "{}"
    validated = []

    def counting(role, query):
        validated.append(query)
        return public_query(role, query)

    monkeypatch.setattr(campaign_lists, "public_query", counting)
    for _ in range(3):
        assert lists.page_for_request("creator", request("limit=5"), "3") == b"{}"
        assert lists.page_for_request("creator", request("mine=true"), "3") is None
    assert lists.page_for_request("admin", request("limit=5"), "3") is None
    assert validated == [{"limit": "5"}, {"mine": "true"}]
    monkeypatch.setattr(campaign_lists, "MAX_MEMO_QUERIES", 2)
    lists.page_for_request("creator", request("limit=6"), "3")
    assert list(lists._digests) == [b"mine=true", b"limit=6"]
