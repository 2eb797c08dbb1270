"""Every marketplace and chat endpoint x every kind of caller -> the status it must answer.

Roles: anon (no token), owner (the brand owning the campaign), other_brand, applicant (the
creator who applied), other_creator, admin; the conversation is the owner's with the applicant.
Mutating rows get fresh objects for every caller, so one caller's success never changes what the
next one sees. (Auth endpoints are public by design
and covered in test_auth_flow.py.)
"""

import uuid
from dataclasses import dataclass, field

import pytest

from tests.e2e.marketplace import (
    admin,
    apply,
    brand_profile,
    call,
    campaign_body,
    creator_profile,
    make_brand,
    make_creator,
    published_campaign,
)

pytestmark = pytest.mark.e2e

ROLES = ("anon", "owner", "other_brand", "applicant", "other_creator", "admin")


def statuses(anon, owner, other_brand, applicant, other_creator, admin_):
    return dict(
        zip(ROLES, (anon, owner, other_brand, applicant, other_creator, admin_), strict=True)
    )


def profile_body(role, ids):
    return brand_profile() if role in ("owner", "other_brand") else creator_profile()


def open_body(role, ids):
    return {"application_id": ids["application"]}


def owner_key_body(role, ids):
    return {"name": "tracker", "brand_id": ids["owner"]}


def message_body(role, ids):
    return {"client_msg_id": uuid.uuid4().hex, "body": f"hello from {role}"}


@dataclass(frozen=True)
class Row:
    method: str
    # placeholders: {draft} {published} {paused} {application} {owner} {applicant}
    # {ingestion_key} {conversation} {accepted} {link}
    path: str
    expected: dict
    body: object = None
    fresh: bool = False  # mutating: new objects for every caller
    extra: dict = field(default_factory=dict)


A = "/api/v1"
REEL = {"type": "reel", "platform": "instagram", "url": "https://instagram.com/p/abc"}
MATRIX = [
    Row("GET", f"{A}/me", statuses(401, 200, 200, 200, 200, 200)),
    Row("GET", f"{A}/me/profile", statuses(401, 200, 200, 200, 200, 404)),
    Row("PUT", f"{A}/me/profile", statuses(401, 200, 200, 200, 200, 404), body=profile_body),
    Row("PATCH", f"{A}/me/profile", statuses(401, 200, 200, 200, 200, 404), body={}),
    Row("GET", f"{A}/creators", statuses(401, 200, 200, 403, 403, 200)),
    Row("GET", f"{A}/creators/{{applicant}}", statuses(401, 200, 200, 200, 200, 200)),
    Row("GET", f"{A}/brands/{{owner}}", statuses(401, 200, 200, 200, 200, 200)),
    Row("POST", f"{A}/campaigns", statuses(401, 201, 201, 403, 403, 403), body=campaign_body()),
    Row("GET", f"{A}/campaigns", statuses(401, 200, 200, 200, 200, 200)),
    Row("GET", f"{A}/campaigns?mine=true", statuses(401, 200, 200, 403, 403, 403)),
    Row("GET", f"{A}/campaigns/{{draft}}", statuses(401, 200, 404, 404, 404, 200)),
    Row("GET", f"{A}/campaigns/{{published}}", statuses(401, 200, 200, 200, 200, 200)),
    Row(
        "PATCH",
        f"{A}/campaigns/{{draft}}",
        statuses(401, 200, 404, 403, 403, 403),
        body={"title": "New"},
        fresh=True,
    ),
    Row(
        "PATCH",
        f"{A}/campaigns/{{published}}",
        statuses(401, 200, 403, 403, 403, 403),
        body={"title": "New"},
        fresh=True,
    ),
    Row("DELETE", f"{A}/campaigns/{{draft}}", statuses(401, 204, 404, 403, 403, 403), fresh=True),
    Row(
        "POST",
        f"{A}/campaigns/{{draft}}/publish",
        statuses(401, 200, 404, 403, 403, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/campaigns/{{published}}/pause",
        statuses(401, 200, 403, 403, 403, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/campaigns/{{paused}}/resume",
        statuses(401, 200, 403, 403, 403, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/campaigns/{{published}}/close",
        statuses(401, 200, 403, 403, 403, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/campaigns/{{published}}/applications",
        statuses(401, 403, 403, 201, 201, 403),
        fresh=True,
        body={"pitch": "hi", "proposed_rate": {"amount": 100, "currency": "EUR"}},
    ),
    Row("GET", f"{A}/campaigns/{{published}}/applications", statuses(401, 200, 403, 403, 403, 200)),
    Row("GET", f"{A}/applications", statuses(401, 200, 200, 200, 200, 200)),
    Row("GET", f"{A}/applications/{{application}}", statuses(401, 200, 404, 200, 404, 200)),
    Row(
        "POST",
        f"{A}/applications/{{application}}/shortlist",
        statuses(401, 200, 404, 403, 404, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/applications/{{application}}/accept",
        statuses(401, 200, 404, 403, 404, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/applications/{{application}}/reject",
        statuses(401, 200, 404, 403, 404, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/applications/{{application}}/withdraw",
        statuses(401, 403, 404, 200, 404, 403),
        fresh=True,
    ),
    # Analytics: an empty batch is refused by content (422) once the role may ingest at all.
    Row(
        "POST", f"{A}/analytics/events", statuses(401, 422, 422, 422, 422, 403), body={"events": []}
    ),
    *(
        Row(
            "GET",
            f"{A}/campaigns/{{published}}/analytics/{report}",
            statuses(401, 200, 403, 403, 403, 200),
        )
        for report in ("summary", "timeseries", "creators", "platforms")
    ),
    Row(
        "GET", f"{A}/campaigns/{{draft}}/analytics/summary", statuses(401, 200, 404, 403, 403, 200)
    ),
    Row(  # a brand for itself; an admin must name the brand
        "POST",
        f"{A}/analytics/ingestion-keys",
        statuses(401, 201, 201, 403, 403, 422),
        body={"name": "tracker"},
    ),
    Row(  # for the owner's brand: the owner and admins only
        "POST",
        f"{A}/analytics/ingestion-keys",
        statuses(401, 201, 403, 403, 403, 201),
        body=owner_key_body,
    ),
    Row("GET", f"{A}/analytics/ingestion-keys", statuses(401, 200, 200, 403, 403, 200)),
    Row(  # the owner's key
        "DELETE",
        f"{A}/analytics/ingestion-keys/{{ingestion_key}}",
        statuses(401, 204, 404, 403, 403, 204),
        fresh=True,
    ),
    # Tracking links: the two parties of an accepted application; a pending one is 409.
    Row(
        "POST",
        f"{A}/applications/{{application}}/tracking-links",
        statuses(401, 409, 404, 409, 404, 403),
        body={"destination_url": "https://shop.example/"},
    ),
    Row(
        "POST",
        f"{A}/applications/{{accepted}}/tracking-links",
        statuses(401, 201, 404, 201, 404, 403),
        body={"destination_url": "https://shop.example/"},
    ),
    Row(
        "GET",
        f"{A}/applications/{{accepted}}/tracking-links",
        statuses(401, 200, 404, 200, 404, 403),
    ),
    Row(
        "POST",
        f"{A}/tracking-links/{{link}}/disable",
        statuses(401, 200, 404, 200, 404, 403),
        fresh=True,
    ),
    # The conversion postback takes an ingestion key only: no token is one.
    Row(
        "POST",
        f"{A}/analytics/conversions",
        statuses(401, 401, 401, 401, 401, 401),
        body={"code": "AbCdEfGh1234", "value": 100, "order_id": "o-1"},
    ),
    # Deliverables: {accepted} is the applicant's accepted application to the owner's campaign,
    # {deliverable} a submitted deliverable of it, {changes} one the owner asked to change.
    Row(
        "POST",
        f"{A}/applications/{{accepted}}/deliverables",
        statuses(401, 403, 403, 201, 404, 403),
        fresh=True,
        body=REEL,
    ),
    Row(
        "GET",
        f"{A}/applications/{{accepted}}/deliverables",
        statuses(401, 200, 404, 200, 404, 200),
    ),
    Row(
        "GET",
        f"{A}/campaigns/{{accepted_campaign}}/deliverables",
        statuses(401, 200, 404, 403, 403, 200),
    ),
    Row("GET", f"{A}/deliverables/{{deliverable}}", statuses(401, 200, 404, 200, 404, 200)),
    Row(
        "PUT",
        f"{A}/deliverables/{{changes}}",
        statuses(401, 403, 403, 200, 404, 403),
        fresh=True,
        body={"url": "https://instagram.com/p/v2"},
    ),
    Row(
        "POST",
        f"{A}/deliverables/{{deliverable}}/approve",
        statuses(401, 200, 404, 403, 403, 403),
        fresh=True,
    ),
    Row(
        "POST",
        f"{A}/deliverables/{{deliverable}}/request-changes",
        statuses(401, 200, 404, 403, 403, 403),
        fresh=True,
        body={"note": "brighter"},
    ),
    Row("GET", f"{A}/conversations", statuses(401, 200, 200, 200, 200, 200)),
    Row("POST", f"{A}/conversations", statuses(401, 201, 404, 403, 403, 403), body=open_body),
    Row(
        "GET",
        f"{A}/conversations/{{conversation}}/messages",
        statuses(401, 200, 404, 200, 404, 200),
    ),
    Row(
        "POST",
        f"{A}/conversations/{{conversation}}/messages",
        statuses(401, 201, 404, 201, 404, 403),
        body=message_body,
    ),
    Row(
        "POST",
        f"{A}/conversations/{{conversation}}/read",
        statuses(401, 200, 404, 200, 404, 403),
        body={"seq": 0},
    ),
]


class World:
    def __init__(self, api):
        self.api = api
        self.users = {
            "anon": None,
            "owner": make_brand(api),
            "other_brand": make_brand(api),
            "applicant": make_creator(api),
            "other_creator": make_creator(api),
            "admin": admin(api),
        }
        self.shared = {kind: self.make(kind) for kind in self.KINDS}

    KINDS = (
        "draft",
        "published",
        "paused",
        "application",
        "owner",
        "applicant",
        "ingestion_key",
        "conversation",
        "accepted",
        "link",
        "accepted_campaign",
        "deliverable",
        "changes",
    )

    def make(self, kind):
        api, owner = self.api, self.users["owner"]
        if kind == "owner":
            return owner.id
        if kind == "applicant":
            return self.users["applicant"].id
        if kind == "ingestion_key":
            body = {"name": "matrix"}
            return call(api, "POST", f"{A}/analytics/ingestion-keys", owner, body).json()["id"]
        if kind == "draft":
            return call(api, "POST", f"{A}/campaigns", owner, campaign_body()).json()["id"]
        campaign = published_campaign(api, owner)
        if kind in ("accepted", "accepted_campaign", "deliverable", "changes"):
            application = apply(api, self.users["applicant"], campaign["id"]).json()["id"]
            if kind == "accepted_campaign":
                return campaign["id"]  # applying gave applications its copy of the campaign
            accepted = call(api, "POST", f"{A}/applications/{application}/accept", owner)
            assert accepted.status_code == 200, accepted.text
            if kind == "accepted":
                return application
            path = f"{A}/applications/{application}/deliverables"
            deliverable = call(api, "POST", path, self.users["applicant"], REEL).json()["id"]
            if kind == "changes":
                path = f"{A}/deliverables/{deliverable}/request-changes"
                changed = call(api, "POST", path, owner, {"note": "brighter"})
                assert changed.status_code == 200, changed.text
            return deliverable
        if kind == "conversation":
            application = apply(api, self.users["applicant"], campaign["id"]).json()["id"]
            opened = call(api, "POST", f"{A}/conversations", owner, {"application_id": application})
            assert opened.status_code == 201, opened.text
            return opened.json()["id"]
        if kind == "paused":
            call(api, "POST", f"{A}/campaigns/{campaign['id']}/pause", owner)
        if kind == "application":
            return apply(api, self.users["applicant"], campaign["id"]).json()["id"]
        if kind == "link":
            application = apply(api, self.users["applicant"], campaign["id"]).json()["id"]
            accepted = call(api, "POST", f"{A}/applications/{application}/accept", owner)
            assert accepted.status_code == 200, accepted.text
            body = {"destination_url": "https://shop.example/"}
            made = call(api, "POST", f"{A}/applications/{application}/tracking-links", owner, body)
            assert made.status_code == 201, made.text
            return made.json()["id"]
        return campaign["id"]

    def ids_for(self, row):
        if not row.fresh:
            return self.shared
        return {kind: self.make(kind) if f"{{{kind}}}" in row.path else None for kind in self.KINDS}


def test_authorization_matrix(api):
    world = World(api)
    mismatches = []
    for row in MATRIX:
        for role in ROLES:
            ids = world.ids_for(row)
            body = row.body(role, ids) if callable(row.body) else row.body
            response = call(api, row.method, row.path.format(**ids), world.users[role], body)
            if response.status_code != row.expected[role]:
                mismatches.append(
                    f"{row.method} {row.path} as {role}: expected {row.expected[role]}, "
                    f"got {response.status_code} {response.text[:160]}"
                )
    assert not mismatches, "\n".join(mismatches)


def test_matrix_covers_every_marketplace_route():
    from gateway_http import openapi
    from gateway_http.service import GatewayService

    documented = {
        (method.upper(), path)
        for path, operations in openapi.document(GatewayService)["paths"].items()
        for method in operations
        if path.startswith(
            (
                "/api/v1/me",
                "/api/v1/creators",
                "/api/v1/brands",
                "/api/v1/campaigns",
                "/api/v1/applications",
                "/api/v1/analytics",
                "/api/v1/conversations",
                "/api/v1/tracking-links",
                "/api/v1/deliverables",
            )
        )
    }
    placeholders = {
        "{draft}": "{campaign_id}",
        "{published}": "{campaign_id}",
        "{paused}": "{campaign_id}",
        "{application}": "{application_id}",
        "{owner}": "{brand_id}",
        "{applicant}": "{creator_id}",
        "{ingestion_key}": "{key_id}",
        "{conversation}": "{conversation_id}",
        "{link}": "{link_id}",
        "{accepted_campaign}": "{campaign_id}",
        "{accepted}": "{application_id}",
        "{deliverable}": "{deliverable_id}",
        "{changes}": "{deliverable_id}",
    }
    covered = set()
    for row in MATRIX:
        path = row.path.split("?")[0]
        for placeholder, name in placeholders.items():
            path = path.replace(placeholder.replace("{", "{{").replace("}", "}}"), name)
            path = path.replace(placeholder, name)
        covered.add((row.method, path))
    assert documented <= covered, documented - covered
