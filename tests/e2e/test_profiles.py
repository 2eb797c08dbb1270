"""Profiles and creator discovery through the public API."""

import pytest

from tests.conftest import wait_until
from tests.e2e.marketplace import call, creator_profile, make_brand, make_creator, signup

pytestmark = pytest.mark.e2e


def test_profile_shell_then_put_patch_and_public_views(api):
    creator = signup(api, "creator")
    shell = wait_until(
        lambda: (r := call(api, "GET", "/api/v1/me/profile", creator)).json().get("email") and r
    )
    assert shell.json()["complete"] is False and shell.json()["role"] == "creator"
    assert call(api, "GET", f"/api/v1/creators/{creator.id}", creator).status_code == 404

    put = call(api, "PUT", "/api/v1/me/profile", creator, creator_profile())
    assert put.status_code == 200, put.text
    assert put.json()["complete"] is True
    assert put.json()["followers_total"] == 70_000
    assert put.json()["engagement_rate"] == pytest.approx(
        (50_000 * 0.04 + 20_000 * 0.06) / 70_000, abs=1e-6
    )

    patched = call(api, "PATCH", "/api/v1/me/profile", creator, {"bio": "New bio"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["bio"] == "New bio" and patched.json()["display_name"] == "Ava Trails"

    brand = make_brand(api)
    public = call(api, "GET", f"/api/v1/creators/{creator.id}", brand)
    assert public.status_code == 200
    assert "email" not in public.json() and public.json()["bio"] == "New bio"
    brand_public = call(api, "GET", f"/api/v1/brands/{brand.id}", creator)
    assert brand_public.status_code == 200 and "email" not in brand_public.json()
    assert brand_public.json()["company_name"] == "Northwind Outdoor"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**creator_profile(), "portfolio_url": "ftp://x.example.com"}, "portfolio_url"),
        ({**creator_profile(), "portfolio_url": "not a url"}, "portfolio_url"),
        ({**creator_profile(), "niches": ["astrology"]}, "niches.0"),
        ({**creator_profile(), "unknown": 1}, "unknown"),
        ({k: v for k, v in creator_profile().items() if k != "portfolio_url"}, "portfolio_url"),
        (
            {
                **creator_profile(),
                "platforms": [
                    {"platform": "myspace", "handle": "a", "followers": 1, "engagement_rate": 0.1}
                ],
            },
            "platforms.0.platform",
        ),
    ],
)
def test_bad_creator_profile_is_422_per_field_and_changes_nothing(api, body, field):
    creator = make_creator(api)
    response = call(api, "PUT", "/api/v1/me/profile", creator, body)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert call(api, "GET", "/api/v1/me/profile", creator).json()["portfolio_url"] == (
        "https://ava.example.com/"
    )


def test_brand_profile_needs_company_name(api):
    brand = signup(api, "brand")
    response = call(api, "PUT", "/api/v1/me/profile", brand, {"website": "https://x.example"})
    assert response.status_code == 422
    assert "company_name" in [error["field"] for error in response.json()["errors"]]


def only_on(platform: str, handle: str, followers: int, engagement_rate: float) -> list[dict]:
    return [
        {
            "platform": platform,
            "handle": handle,
            "followers": followers,
            "engagement_rate": engagement_rate,
        }
    ]


def test_discovery_filters_sort_text_and_cursor(api):
    brand = make_brand(api)
    big = make_creator(
        api,
        display_name="Big Gamer",
        bio="speedruns",
        niches=["gaming"],
        platforms=only_on("twitch", "biggamer", 900_000, 0.02),
        country="US",
        languages=["en"],
    )
    small = make_creator(
        api,
        display_name="Small Cook",
        bio="vegan recipes",
        niches=["food"],
        platforms=only_on("tiktok", "smallcook", 5_000, 0.09),
        country="FR",
        languages=["fr"],
    )
    mid = make_creator(api)  # outdoors, instagram+youtube, 70k, DE

    def ids(query):
        response = call(api, "GET", f"/api/v1/creators?{query}", brand)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("sort=-followers") == [big.id, mid.id, small.id]
    assert ids("sort=-engagement") == [small.id, mid.id, big.id]
    assert ids("niche=gaming") == [big.id]
    assert ids("platform=youtube") == [mid.id]
    assert ids("min_followers=10000&max_followers=100000") == [mid.id]
    assert ids("min_engagement=0.05") == [small.id]
    assert ids("country=FR") == [small.id]
    assert ids("language=de") == [mid.id]
    assert ids("q=vegan") == [small.id]
    assert ids("q=biggamer") == [big.id]

    first = call(api, "GET", "/api/v1/creators?limit=2", brand).json()
    assert [i["id"] for i in first["items"]] == [big.id, mid.id] and first["next_cursor"]
    second = call(api, "GET", f"/api/v1/creators?limit=2&cursor={first['next_cursor']}", brand)
    assert [i["id"] for i in second.json()["items"]] == [small.id]
    assert second.json()["next_cursor"] is None
    assert all("email" not in item for item in first["items"])

    for bad in (
        "limit=0",
        "limit=101",
        "niche=astrology",
        "cursor=zzz",
        "bogus=1",
        "min_followers=5&max_followers=1",
    ):
        response = call(api, "GET", f"/api/v1/creators?{bad}", brand)
        assert response.status_code == 422, (bad, response.text)

    creator = make_creator(api)
    assert call(api, "GET", "/api/v1/creators", creator).status_code == 403
    assert call(api, "GET", "/api/v1/creators").status_code == 401
