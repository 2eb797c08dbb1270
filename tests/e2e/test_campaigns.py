"""Campaigns through the public API: lifecycle, ownership, frozen terms, cached lists, ETags."""

import pytest

from tests.conftest import wait_until
from tests.e2e.marketplace import call, campaign_body, make_brand, make_creator, published_campaign

pytestmark = pytest.mark.e2e


def test_lifecycle_and_invalid_transitions(api):
    brand = make_brand(api)
    created = call(api, "POST", "/api/v1/campaigns", brand, campaign_body())
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["brand_id"] == brand.id
    cid = campaign["id"]

    def act(action):
        return call(api, "POST", f"/api/v1/campaigns/{cid}/{action}", brand)

    assert act("pause").status_code == 409
    assert act("resume").status_code == 409
    assert act("close").status_code == 409
    assert act("publish").json()["status"] == "published"
    assert act("publish").status_code == 409
    assert act("pause").json()["status"] == "paused"
    assert act("pause").status_code == 409
    assert act("resume").json()["status"] == "published"
    assert act("close").json()["status"] == "closed"
    for action in ("publish", "pause", "resume", "close"):
        assert act(action).status_code == 409
    assert call(api, "PATCH", f"/api/v1/campaigns/{cid}", brand, {"title": "x"}).status_code == 409
    assert call(api, "DELETE", f"/api/v1/campaigns/{cid}", brand).status_code == 409


def test_only_the_owner_manages_and_drafts_are_private(api):
    owner, other = make_brand(api), make_brand(api)
    creator = make_creator(api)
    draft = call(api, "POST", "/api/v1/campaigns", owner, campaign_body()).json()
    path = f"/api/v1/campaigns/{draft['id']}"
    assert call(api, "GET", path, other).status_code == 404
    assert call(api, "GET", path, creator).status_code == 404
    assert call(api, "PATCH", path, other, {"title": "mine now"}).status_code == 404
    assert call(api, "POST", f"{path}/publish", other).status_code == 404
    assert call(api, "POST", f"{path}/publish", owner).status_code == 200
    assert call(api, "GET", path, creator).status_code == 200
    assert call(api, "PATCH", path, other, {"title": "mine now"}).status_code == 403
    assert call(api, "POST", f"{path}/close", other).status_code == 403
    assert call(api, "POST", f"{path}/close", creator).status_code == 403
    assert call(api, "POST", "/api/v1/campaigns", creator, campaign_body()).status_code == 403
    assert call(api, "GET", path, owner).json()["title"] == "Alpine summer launch"


def test_published_terms_are_frozen_but_copy_can_change(api):
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    path = f"/api/v1/campaigns/{campaign['id']}"
    frozen = call(api, "PATCH", path, brand, {"budget": {"amount": 1, "currency": "EUR"}})
    assert frozen.status_code == 409
    assert [e["field"] for e in frozen.json()["errors"]] == ["budget"]
    assert call(api, "PATCH", path, brand, {"max_creators": 2}).status_code == 409
    edited = call(api, "PATCH", path, brand, {"title": "Alpine launch", "max_creators": 8})
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "Alpine launch" and edited.json()["max_creators"] == 8
    assert call(api, "GET", path, brand).json()["budget"]["amount"] == 500_000


@pytest.mark.parametrize("field", ["max_creators", "application_deadline", "title", "budget"])
def test_null_for_a_live_campaigns_field_is_a_validation_error(api, field):
    """Found by schemathesis: a null reached the edit policy's comparisons and answered 500."""
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    path = f"/api/v1/campaigns/{campaign['id']}"
    response = call(api, "PATCH", path, brand, {field: None})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert call(api, "GET", path, brand).json()["version"] == campaign["version"]


def test_etag_and_if_match(api):
    brand = make_brand(api)
    campaign = call(api, "POST", "/api/v1/campaigns", brand, campaign_body()).json()
    path = f"/api/v1/campaigns/{campaign['id']}"
    read = call(api, "GET", path, brand)
    tag = read.headers["ETag"]
    assert call(api, "GET", path, brand, headers={"If-None-Match": tag}).status_code == 304
    first = call(api, "PATCH", path, brand, {"title": "One"}, headers={"If-Match": tag})
    assert first.status_code == 200 and first.headers["ETag"] != tag
    stale = call(api, "PATCH", path, brand, {"title": "Two"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert call(api, "GET", path, brand).json()["title"] == "One"
    bad = call(api, "PATCH", path, brand, {"title": "Two"}, headers={"If-Match": '"nope"'})
    assert bad.status_code == 412


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"budget": {"amount": -1, "currency": "EUR"}}, "budget.amount"),
        ({"budget": {"amount": 10, "currency": "euro"}}, "budget.currency"),
        ({"compensation": "barter"}, "compensation"),
        (
            {"deliverables": [{"type": "tweetstorm", "platform": "x", "quantity": 1}]},
            "deliverables.0.type",
        ),
        ({"max_creators": 0}, "max_creators"),
        ({"application_deadline": "2030-01-01T00:00:00"}, "application_deadline"),
        ({"title": ""}, "title"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_campaign_is_422_and_creates_nothing(api, override, field):
    brand = make_brand(api)
    response = call(api, "POST", "/api/v1/campaigns", brand, campaign_body(**override))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    mine = call(api, "GET", "/api/v1/campaigns?mine=true", brand).json()
    assert mine["items"] == []


def test_dates_out_of_order_are_422(api):
    brand = make_brand(api)
    body = campaign_body()
    body["ends_at"] = body["starts_at"]
    assert call(api, "POST", "/api/v1/campaigns", brand, body).status_code == 422


def test_lists_filters_cache_invalidation_and_cursor(api):
    brand = make_brand(api)
    creator = make_creator(api)
    gaming = published_campaign(
        api,
        brand,
        title="Speedrun sponsor",
        niches=["gaming"],
        platforms=["twitch"],
        deliverables=[{"type": "stream", "platform": "twitch", "quantity": 3}],
        budget={"amount": 2_000_000, "currency": "USD"},
        compensation="per_deliverable",
        requirements={"min_followers": 0, "countries": []},
    )
    outdoors = published_campaign(api, brand)
    draft = call(api, "POST", "/api/v1/campaigns", brand, campaign_body(title="Secret")).json()

    def ids(query, user=creator):
        response = call(api, "GET", f"/api/v1/campaigns?{query}", user)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("") == [outdoors["id"], gaming["id"]]
    assert ids("niche=gaming") == [gaming["id"]]
    assert ids("platform=instagram") == [outdoors["id"]]
    assert ids("min_budget=1000000") == [gaming["id"]]
    assert ids("max_budget=1000000") == [outdoors["id"]]
    assert ids("compensation=per_deliverable") == [gaming["id"]]
    assert ids("country=AT") == [outdoors["id"], gaming["id"]]
    assert ids("country=US") == [gaming["id"]]
    assert ids("q=speedrun") == [gaming["id"]]
    assert ids("sort=-budget") == [gaming["id"], outdoors["id"]]
    assert set(ids("mine=true", brand)) == {gaming["id"], outdoors["id"], draft["id"]}
    assert ids("mine=true&status=draft", brand) == [draft["id"]]
    assert call(api, "GET", "/api/v1/campaigns?mine=true", creator).status_code == 403
    assert call(api, "GET", "/api/v1/campaigns?status=draft", creator).status_code == 422

    first = call(api, "GET", "/api/v1/campaigns?limit=1", creator).json()
    second = call(
        api, "GET", f"/api/v1/campaigns?limit=1&cursor={first['next_cursor']}", creator
    ).json()
    assert [i["id"] for i in first["items"] + second["items"]] == [outdoors["id"], gaming["id"]]

    # The cached public list follows changes once the event has arrived.
    call(api, "POST", f"/api/v1/campaigns/{gaming['id']}/pause", brand)
    wait_until(lambda: ids("") == [outdoors["id"]])
    call(api, "PATCH", f"/api/v1/campaigns/{outdoors['id']}", brand, {"title": "Renamed"})
    wait_until(
        lambda: (
            call(api, "GET", "/api/v1/campaigns", creator).json()["items"][0]["title"] == "Renamed"
        )
    )
    call(api, "POST", f"/api/v1/campaigns/{draft['id']}/publish", brand)
    wait_until(lambda: draft["id"] in ids(""))


def test_delete_draft(api):
    brand = make_brand(api)
    draft = call(api, "POST", "/api/v1/campaigns", brand, campaign_body()).json()
    path = f"/api/v1/campaigns/{draft['id']}"
    assert call(api, "DELETE", path, brand).status_code == 204
    assert call(api, "GET", path, brand).status_code == 404
    assert call(api, "GET", "/api/v1/campaigns/not-a-uuid", brand).status_code == 404


def test_cached_public_list_is_served_by_the_gateway_without_an_rpc(api):
    """A cached public page comes from Redis through the gateway alone (the campaigns service
    sees no list_campaigns call), and still follows edits, pauses and closes on every read."""
    from tests.e2e.test_service_metrics import process_metrics

    brand, creator = make_brand(api), make_creator(api)
    campaign = published_campaign(api, brand, title="Lantern festival")
    path = "/api/v1/campaigns?limit=100"
    list_calls = (
        "nameko_entrypoint_calls_total",
        (
            ("entrypoint", "list_campaigns"),
            ("kind", "rpc"),
            ("outcome", "success"),
            ("service", "campaigns"),
        ),
    )

    def items():
        response = call(api, "GET", path, creator)
        assert response.status_code == 200, response.text
        return {item["id"]: item for item in response.json()["items"]}

    def served_without_rpc(listed=True):
        before = process_metrics(api, "campaigns").get(list_calls, 0.0)
        pages = [items() for _ in range(3)]
        after = process_metrics(api, "campaigns").get(list_calls, 0.0)
        return after == before and all((campaign["id"] in page) == listed for page in pages)

    wait_until(served_without_rpc)  # once the creation's events have invalidated the cache

    call(api, "PATCH", f"/api/v1/campaigns/{campaign['id']}", brand, {"title": "Lantern night"})
    wait_until(lambda: items()[campaign["id"]]["title"] == "Lantern night")
    call(api, "POST", f"/api/v1/campaigns/{campaign['id']}/pause", brand)
    wait_until(lambda: campaign["id"] not in items())
    call(api, "POST", f"/api/v1/campaigns/{campaign['id']}/resume", brand)
    wait_until(lambda: campaign["id"] in items())
    call(api, "POST", f"/api/v1/campaigns/{campaign['id']}/close", brand)
    wait_until(lambda: served_without_rpc(listed=False))
