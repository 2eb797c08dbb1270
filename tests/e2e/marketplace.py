"""Helpers for marketplace e2e tests: accounts, profiles, campaigns through the public API."""

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import requests

PASSWORD = "correct horse battery"


@dataclass
class User:
    id: str
    token: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def call(api, method, path, user=None, body=None, headers=None, **kwargs):
    all_headers = {**(user.headers if user else {}), **(headers or {})}
    return requests.request(
        method, api.url(path), json=body, headers=all_headers, timeout=30, **kwargs
    )


def signup(api, role, name=None) -> User:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    registered = call(
        api,
        "POST",
        "/api/v1/auth/register",
        body={"email": email, "password": PASSWORD, "role": role, "display_name": name},
    )
    assert registered.status_code == 201, registered.text
    tokens = call(api, "POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return User(registered.json()["id"], tokens.json()["access_token"], role)


def create_admin(api, email: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    """The operator command, as an operator runs it (password on stdin, never in argv)."""
    return subprocess.run(
        [sys.executable, "-m", "services.auth.admin", "create-admin", "--email", email],
        input=password + "\n",
        env={**os.environ, **api.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def admin(api) -> User:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    created = create_admin(api, email)
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    tokens = call(api, "POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return User(account["id"], tokens.json()["access_token"], "admin")


def creator_profile(**overrides) -> dict:
    return {
        "display_name": "Ava Trails",
        "portfolio_url": "https://ava.example.com",
        "bio": "Hiking and gear reviews in the Alps",
        "niches": ["outdoors", "travel"],
        "platforms": [
            {
                "platform": "instagram",
                "handle": "@avatrails",
                "followers": 50_000,
                "engagement_rate": 0.04,
            },
            {
                "platform": "youtube",
                "handle": "avatrails",
                "followers": 20_000,
                "engagement_rate": 0.06,
            },
        ],
        "country": "DE",
        "languages": ["de", "en"],
        "rate_card": [
            {
                "deliverable": "reel",
                "platform": "instagram",
                "rate": {"amount": 50_000, "currency": "EUR"},
            }
        ],
        **overrides,
    }


def brand_profile(**overrides) -> dict:
    return {
        "company_name": "Northwind Outdoor",
        "website": "https://northwind.example.com",
        "industry": "outdoor gear",
        "country": "DE",
        **overrides,
    }


def campaign_body(**overrides) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {
        "title": "Alpine summer launch",
        "brief": "Show our new hiking boots on a real trail.",
        "objectives": ["awareness"],
        "niches": ["outdoors"],
        "platforms": ["instagram"],
        "deliverables": [{"type": "reel", "platform": "instagram", "quantity": 2}],
        "budget": {"amount": 500_000, "currency": "EUR"},
        "compensation": "fixed",
        "application_deadline": (now + dt.timedelta(days=10)).isoformat(),
        "starts_at": (now + dt.timedelta(days=14)).isoformat(),
        "ends_at": (now + dt.timedelta(days=44)).isoformat(),
        "max_creators": 5,
        "requirements": {"min_followers": 10_000, "countries": ["DE", "AT"]},
        **overrides,
    }


def make_creator(api, **profile) -> User:
    user = signup(api, "creator")
    response = call(api, "PUT", "/api/v1/me/profile", user, creator_profile(**profile))
    assert response.status_code == 200, response.text
    return user


def make_brand(api) -> User:
    user = signup(api, "brand")
    response = call(api, "PUT", "/api/v1/me/profile", user, brand_profile())
    assert response.status_code == 200, response.text
    return user


def published_campaign(api, brand, **overrides) -> dict:
    created = call(api, "POST", "/api/v1/campaigns", brand, campaign_body(**overrides))
    assert created.status_code == 201, created.text
    published = call(api, "POST", f"/api/v1/campaigns/{created.json()['id']}/publish", brand)
    assert published.status_code == 200, published.text
    return published.json()


def apply(api, creator, campaign_id, amount=40_000):
    return call(
        api,
        "POST",
        f"/api/v1/campaigns/{campaign_id}/applications",
        creator,
        {
            "pitch": "I hike there every week",
            "proposed_rate": {"amount": amount, "currency": "EUR"},
        },
    )


def accepted_application(api, brand, creator, campaign_id, amount=40_000) -> dict:
    """The creator applies to the brand's campaign and the brand accepts: the application."""
    application = apply(api, creator, campaign_id, amount=amount)
    assert application.status_code == 201, application.text
    path = f"/api/v1/applications/{application.json()['id']}/accept"
    accepted = call(api, "POST", path, brand)
    assert accepted.status_code == 200, accepted.text
    return accepted.json()
