"""Tracking links through the gateway: the brand or the accepted creator makes links, anyone
follows them (302, counted once per visitor, bots not at all), disabled and unknown codes are
404, shops report orders once, and the brand sees clicks and conversions in its analytics."""

import uuid

import pytest
import requests

from tests.conftest import wait_until
from tests.e2e.marketplace import (
    accepted_application,
    admin,
    apply,
    call,
    make_brand,
    make_creator,
    published_campaign,
)

pytestmark = pytest.mark.e2e

A = "/api/v1"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148 Safari/604.1"


def links_path(application_id: str) -> str:
    return f"{A}/applications/{application_id}/tracking-links"


def create_link(api, user, application_id, destination="https://shop.example/boots?ref=x", **kw):
    body = {"destination_url": destination, **kw}
    return call(api, "POST", links_path(application_id), user, body)


def follow(api, code, user_agent=BROWSER, **headers):
    return requests.get(
        api.url(f"/t/{code}"),
        headers={"User-Agent": user_agent, **headers},
        allow_redirects=False,
        timeout=30,
    )


def report(api, brand, campaign_id, name="summary", **params):
    path = f"{A}/campaigns/{campaign_id}/analytics/{name}"
    response = call(api, "GET", path, brand, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def figures_reach(api, brand, campaign_id, **expected):
    return wait_until(
        lambda: (
            (s := report(api, brand, campaign_id))
            and all(s[name] == value for name, value in expected.items())
            and s
        ),
        timeout=20,
        interval=0.2,
    )


@pytest.fixture
def deal(api):
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    creator = make_creator(api)
    application = accepted_application(api, brand, creator, campaign["id"])
    return brand, creator, campaign["id"], application["id"]


def test_links_are_made_listed_followed_and_counted_once_per_visitor(api, deal):
    brand, creator, campaign_id, application_id = deal
    made = create_link(api, creator, application_id, platform="instagram")
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"] == api.url(f"/t/{link['code']}") == made.headers["Location"]
    assert (link["status"], link["platform"], link["creator_id"]) == (
        "active",
        "instagram",
        creator.id,
    )
    assert link["campaign_id"] == campaign_id and link["application_id"] == application_id
    second = create_link(api, brand, application_id, "http://shop.example/sale").json()
    assert second["code"] != link["code"]

    for user in (brand, creator):
        first_page = call(api, "GET", links_path(application_id), user, params={"limit": 1})
        assert first_page.status_code == 200, first_page.text
        rest = call(
            api,
            "GET",
            links_path(application_id),
            user,
            params={"limit": 1, "cursor": first_page.json()["next_cursor"]},
        ).json()
        listed = first_page.json()["items"] + rest["items"]
        assert [item["id"] for item in listed] == [second["id"], link["id"]]
        assert rest["next_cursor"] is None

    followed = follow(api, link["code"])
    assert followed.status_code == 302
    location = followed.headers["Location"]
    assert location.startswith("https://shop.example/boots?ref=x&click_id=")
    click_id = location.split("click_id=")[1]
    assert click_id.startswith(link["code"] + ".")
    assert "no-store" in followed.headers["Cache-Control"]
    # The same visitor again within 30 minutes: same click, not counted; bots: not counted.
    assert follow(api, link["code"]).headers["Location"] == location
    bot = follow(api, link["code"], user_agent="facebookexternalhit/1.1")
    assert bot.status_code == 302 and bot.headers["Location"] == "https://shop.example/boots?ref=x"
    assert follow(api, link["code"], user_agent="").status_code == 302
    # Another visitor (another browser on the same address) counts.
    assert follow(api, link["code"], user_agent=PHONE).status_code == 302

    seen = figures_reach(api, brand, campaign_id, clicks=2)
    assert seen["impressions"] == 0 and seen["conversions"] == 0
    by_creator = report(api, brand, campaign_id, "creators", metric="clicks")["items"]
    assert [(item["creator_id"], item["clicks"]) for item in by_creator] == [(creator.id, 2)]
    platforms = report(api, brand, campaign_id, "platforms")["items"]
    assert {item["platform"]: item["clicks"] for item in platforms} == {"instagram": 2}
    # Following the brand's link by the first browser counts: dedupe is per link.
    assert follow(api, second["code"]).status_code == 302
    figures_reach(api, brand, campaign_id, clicks=3)


def test_disabled_and_unknown_codes_answer_404(api, deal):
    brand, creator, _, application_id = deal
    link = create_link(api, creator, application_id).json()
    assert follow(api, link["code"]).status_code == 302  # cached as active by the gateway

    stranger = make_brand(api)
    path = f"{A}/tracking-links/{link['id']}/disable"
    assert call(api, "POST", path, stranger).status_code == 404
    assert call(api, "POST", path, make_creator(api)).status_code == 404
    disabled = call(api, "POST", path, brand)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["status"] == "disabled" and disabled.json()["disabled_at"]
    assert call(api, "POST", path, creator).json()["disabled_at"] == disabled.json()["disabled_at"]

    gone = follow(api, link["code"])
    assert gone.status_code == 404
    assert gone.headers["Content-Type"] == "application/problem+json"
    assert "Location" not in gone.headers
    listed = call(api, "GET", links_path(application_id), creator).json()["items"]
    assert [item["status"] for item in listed] == ["disabled"]

    for code in ("AbCdEfGh1234", "nope", "a" * 40, "%00%00%00%00%00%00%00%00"):
        unknown = follow(api, code)
        assert unknown.status_code == 404, code
        assert unknown.json()["status"] == 404
    assert call(api, "POST", f"{A}/tracking-links/{uuid.uuid4()}/disable", brand).status_code == 404
    assert call(api, "POST", f"{A}/tracking-links/not-a-uuid/disable", brand).status_code == 404


def test_only_the_two_parties_of_an_accepted_application_make_links(api, deal):
    brand, creator, campaign_id, application_id = deal
    for outsider in (make_brand(api), make_creator(api)):
        assert create_link(api, outsider, application_id).status_code == 404
        assert call(api, "GET", links_path(application_id), outsider).status_code == 404
    assert create_link(api, admin(api), application_id).status_code == 403
    assert create_link(api, None, application_id).status_code == 401
    assert create_link(api, brand, str(uuid.uuid4())).status_code == 404
    assert create_link(api, brand, "not-a-uuid").status_code == 404

    pending_creator = make_creator(api)
    pending = apply(api, pending_creator, campaign_id).json()
    refused = create_link(api, pending_creator, pending["id"])
    assert refused.status_code == 409, refused.text
    assert create_link(api, brand, pending["id"]).status_code == 409

    for bad in ("ftp://shop.example/", "javascript:alert(1)", "https://u:p@shop.example/", ""):
        answer = create_link(api, creator, application_id, bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["errors"][0]["field"] == "destination_url"
    assert create_link(api, creator, application_id, platform="myspace").status_code == 422
    assert (
        create_link(api, creator, application_id, "https://x.example/" + "a" * 2100).status_code
        == 422
    )
    raw = requests.post(
        api.url(links_path(application_id)),
        data="{not json",
        headers={**creator.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert raw.status_code == 400
    listing = call(api, "GET", links_path(application_id), brand, params={"limit": 0})
    assert listing.status_code == 422
    assert call(api, "GET", links_path(application_id), brand).json()["items"] == []


def test_conversions_count_once_per_order_for_the_links_creator(api, deal):
    brand, creator, campaign_id, application_id = deal
    link = create_link(api, creator, application_id, platform="tiktok").json()
    made = call(api, "POST", f"{A}/analytics/ingestion-keys", brand, {"name": "shop"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    shop = {"X-Ingestion-Key": key}
    path = f"{A}/analytics/conversions"

    order = {"code": link["code"], "value": 4900, "order_id": "order-1001"}
    first = call(api, "POST", path, None, order, headers=shop)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert (answer["creator_id"], answer["campaign_id"], answer["value"]) == (
        creator.id,
        campaign_id,
        4900,
    )
    again = call(api, "POST", path, None, order, headers=shop)
    assert (again.status_code, again.json()) == (202, answer)
    changed = call(api, "POST", path, None, {**order, "value": 5000}, headers=shop)
    assert changed.status_code == 409

    click_id = follow(api, link["code"]).headers["Location"].split("click_id=")[1]
    by_click = {"click_id": click_id, "value": 1500, "order_id": "order-1002"}
    assert call(api, "POST", path, None, by_click, headers=shop).status_code == 202

    unknown = call(api, "POST", path, None, {**order, "code": "ZZZZZZZZZZZZ"}, headers=shop)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "unknown_link"
    assert call(api, "POST", path, None, {**order, "code": None}, headers=shop).status_code == 422
    assert call(api, "POST", path, None, {**order, "value": -5}, headers=shop).status_code == 422
    assert call(api, "POST", path, None, order).status_code == 401
    assert call(api, "POST", path, brand, order).status_code == 401  # a token is not a key
    assert (
        call(api, "POST", path, None, order, headers={"X-Ingestion-Key": "ik_x"}).status_code == 401
    )
    # Another brand's key, and the brand's own key limited to another of its campaigns.
    other = call(api, "POST", f"{A}/analytics/ingestion-keys", make_brand(api), {"name": "x"})
    foreign = call(api, "POST", path, None, order, headers={"X-Ingestion-Key": other.json()["key"]})
    assert foreign.status_code == 422
    elsewhere = published_campaign(api, brand)["id"]
    scoped = call(
        api,
        "POST",
        f"{A}/analytics/ingestion-keys",
        brand,
        {"name": "another campaign", "campaign_ids": [elsewhere]},
    )
    assert scoped.status_code == 201, scoped.text
    outside = call(
        api, "POST", path, None, order, headers={"X-Ingestion-Key": scoped.json()["key"]}
    )
    assert outside.status_code == 422

    seen = figures_reach(api, brand, campaign_id, conversions=2, revenue=6400, clicks=1)
    assert seen["roi"] is not None
    by_creator = report(api, brand, campaign_id, "creators", metric="revenue")["items"]
    assert [(i["creator_id"], i["conversions"], i["revenue"]) for i in by_creator] == [
        (creator.id, 2, 6400)
    ]
