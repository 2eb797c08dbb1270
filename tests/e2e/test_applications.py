"""Applications through the public API: apply once, requirements, decisions, withdrawals, the
max_creators limit under concurrent accepts, and closing a campaign."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import wait_until
from tests.e2e.marketplace import (
    apply,
    call,
    campaign_body,
    make_brand,
    make_creator,
    published_campaign,
    signup,
)

pytestmark = pytest.mark.e2e


def test_apply_once_and_decision_flow(api):
    brand = make_brand(api)
    creator = make_creator(api)
    campaign = published_campaign(api, brand)
    applied = apply(api, creator, campaign["id"])
    assert applied.status_code == 201, applied.text
    application = applied.json()
    assert application["status"] == "submitted" and application["brand_id"] == brand.id
    assert apply(api, creator, campaign["id"]).status_code == 409

    path = f"/api/v1/applications/{application['id']}"
    assert call(api, "POST", f"{path}/shortlist", creator).status_code == 403
    shortlisted = call(api, "POST", f"{path}/shortlist", brand)
    assert shortlisted.json()["status"] == "shortlisted", shortlisted.text
    assert call(api, "POST", f"{path}/shortlist", brand).status_code == 409
    assert call(api, "POST", f"{path}/accept", brand).json()["status"] == "accepted"
    assert call(api, "POST", f"{path}/withdraw", creator).status_code == 409
    assert call(api, "POST", f"{path}/reject", brand).status_code == 409

    listed = call(api, "GET", f"/api/v1/campaigns/{campaign['id']}/applications", brand).json()
    assert [item["id"] for item in listed["items"]] == [application["id"]]
    filtered = call(
        api, "GET", f"/api/v1/campaigns/{campaign['id']}/applications?status=submitted", brand
    )
    assert filtered.json()["items"] == []
    assert [i["id"] for i in call(api, "GET", "/api/v1/applications", creator).json()["items"]] == [
        application["id"]
    ]
    assert call(api, "GET", path, creator).status_code == 200


def test_withdraw_while_pending(api):
    brand = make_brand(api)
    creator = make_creator(api)
    campaign = published_campaign(api, brand)
    application = apply(api, creator, campaign["id"]).json()
    path = f"/api/v1/applications/{application['id']}"
    assert call(api, "POST", f"{path}/withdraw", brand).status_code == 403
    assert call(api, "POST", f"{path}/withdraw", creator).json()["status"] == "withdrawn"
    assert call(api, "POST", f"{path}/accept", brand).status_code == 409


def test_others_cannot_see_or_decide(api):
    brand, other_brand = make_brand(api), make_brand(api)
    creator, other_creator = make_creator(api), make_creator(api)
    campaign = published_campaign(api, brand)
    application = apply(api, creator, campaign["id"]).json()
    path = f"/api/v1/applications/{application['id']}"
    assert call(api, "GET", path, other_creator).status_code == 404
    assert call(api, "GET", path, other_brand).status_code == 404
    assert call(api, "POST", f"{path}/accept", other_brand).status_code == 404
    assert call(api, "POST", f"{path}/withdraw", other_creator).status_code == 404
    listing = f"/api/v1/campaigns/{campaign['id']}/applications"
    assert call(api, "GET", listing, other_brand).status_code == 403
    assert call(api, "GET", listing, creator).status_code == 403
    assert call(api, "GET", "/api/v1/applications", other_creator).json()["items"] == []


def test_requirements_deadline_and_status_are_checked(api):
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    too_small = make_creator(
        api,
        platforms=[
            {"platform": "instagram", "handle": "tiny", "followers": 100, "engagement_rate": 0.1}
        ],
    )
    wrong_country = make_creator(api, country="US")
    wrong_platform = make_creator(
        api,
        platforms=[
            {"platform": "tiktok", "handle": "tt", "followers": 90_000, "engagement_rate": 0.1}
        ],
    )
    no_profile = signup(api, "creator")
    for creator, code in [
        (too_small, "min_followers"),
        (wrong_country, "country"),
        (wrong_platform, "platform"),
        (no_profile, "profile_incomplete"),
    ]:
        response = apply(api, creator, campaign["id"])
        assert response.status_code == 409, response.text
        assert code in [error["code"] for error in response.json()["errors"]]

    creator = make_creator(api)
    wrong_currency = call(
        api,
        "POST",
        f"/api/v1/campaigns/{campaign['id']}/applications",
        creator,
        {"pitch": "hi", "proposed_rate": {"amount": 1, "currency": "USD"}},
    )
    assert wrong_currency.status_code == 422
    draft = call(api, "POST", "/api/v1/campaigns", brand, campaign_body()).json()
    assert apply(api, creator, draft["id"]).status_code == 404
    call(api, "POST", f"/api/v1/campaigns/{campaign['id']}/pause", brand)
    assert apply(api, creator, campaign["id"]).status_code == 409
    assert apply(api, brand, campaign["id"]).status_code == 403
    assert call(api, "GET", "/api/v1/applications").status_code == 401


def test_twenty_parallel_accepts_never_exceed_max_creators(api):
    brand = make_brand(api)
    campaign = published_campaign(api, brand, max_creators=5)
    creators = [make_creator(api) for _ in range(20)]
    applications = [apply(api, creator, campaign["id"]).json() for creator in creators]

    def accept(application):
        return call(api, "POST", f"/api/v1/applications/{application['id']}/accept", brand)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = [response.status_code for response in pool.map(accept, applications)]
    assert sorted(statuses) == [200] * 5 + [409] * 15
    accepted = call(
        api,
        "GET",
        f"/api/v1/campaigns/{campaign['id']}/applications?status=accepted&limit=100",
        brand,
    ).json()["items"]
    assert len(accepted) == 5


def test_closing_rejects_pending_applications(api):
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    ids = [apply(api, make_creator(api), campaign["id"]).json()["id"] for _ in range(3)]
    call(api, "POST", f"/api/v1/applications/{ids[0]}/accept", brand)
    call(api, "POST", f"/api/v1/applications/{ids[1]}/shortlist", brand)
    assert call(api, "POST", f"/api/v1/campaigns/{campaign['id']}/close", brand).status_code == 200

    def statuses():
        return [call(api, "GET", f"/api/v1/applications/{i}", brand).json()["status"] for i in ids]

    wait_until(lambda: statuses() == ["accepted", "rejected", "rejected"])
