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
    accepted_application,
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
    # below /api/v1; placeholders: {draft} {published} {paused} {application} {owner}
    # {applicant} {ingestion_key} {conversation} {accepted} {link}
    path: str
    statuses: tuple[int, ...]  # one per role, in ROLES order
    body: object = None
    fresh: bool = False  # mutating: new objects for every caller
    extra: dict = field(default_factory=dict)

    @property
    def expected(self) -> dict[str, int]:
        return dict(zip(ROLES, self.statuses, strict=True))


A = "/api/v1"
REEL = {"type": "reel", "platform": "instagram", "url": "https://instagram.com/p/abc"}
MATRIX = [
    Row("GET", "/me", (401, 200, 200, 200, 200, 200)),
    Row("GET", "/me/profile", (401, 200, 200, 200, 200, 404)),
    Row("PUT", "/me/profile", (401, 200, 200, 200, 200, 404), body=profile_body),
    Row("PATCH", "/me/profile", (401, 200, 200, 200, 200, 404), body={}),
    Row("GET", "/creators", (401, 200, 200, 403, 403, 200)),
    Row("GET", "/creators/{applicant}", (401, 200, 200, 200, 200, 200)),
    Row("GET", "/brands/{owner}", (401, 200, 200, 200, 200, 200)),
    Row("POST", "/campaigns", (401, 201, 201, 403, 403, 403), body=campaign_body()),
    Row("GET", "/campaigns", (401, 200, 200, 200, 200, 200)),
    Row("GET", "/campaigns?mine=true", (401, 200, 200, 403, 403, 403)),
    Row("GET", "/campaigns/{draft}", (401, 200, 404, 404, 404, 200)),
    Row("GET", "/campaigns/{published}", (401, 200, 200, 200, 200, 200)),
    Row(
        "PATCH",
        "/campaigns/{draft}",
        (401, 200, 404, 403, 403, 403),
        body={"title": "New"},
        fresh=True,
    ),
    Row(
        "PATCH",
        "/campaigns/{published}",
        (401, 200, 403, 403, 403, 403),
        body={"title": "New"},
        fresh=True,
    ),
    Row("DELETE", "/campaigns/{draft}", (401, 204, 404, 403, 403, 403), fresh=True),
    Row("POST", "/campaigns/{draft}/publish", (401, 200, 404, 403, 403, 403), fresh=True),
    Row("POST", "/campaigns/{published}/pause", (401, 200, 403, 403, 403, 403), fresh=True),
    Row("POST", "/campaigns/{paused}/resume", (401, 200, 403, 403, 403, 403), fresh=True),
    Row("POST", "/campaigns/{published}/close", (401, 200, 403, 403, 403, 403), fresh=True),
    Row(
        "POST",
        "/campaigns/{published}/applications",
        (401, 403, 403, 201, 201, 403),
        fresh=True,
        body={"pitch": "hi", "proposed_rate": {"amount": 100, "currency": "EUR"}},
    ),
    Row("GET", "/campaigns/{published}/applications", (401, 200, 403, 403, 403, 200)),
    Row("GET", "/applications", (401, 200, 200, 200, 200, 200)),
    Row("GET", "/applications/{application}", (401, 200, 404, 200, 404, 200)),
    Row(
        "POST", "/applications/{application}/shortlist", (401, 200, 404, 403, 404, 403), fresh=True
    ),
    Row("POST", "/applications/{application}/accept", (401, 200, 404, 403, 404, 403), fresh=True),
    Row("POST", "/applications/{application}/reject", (401, 200, 404, 403, 404, 403), fresh=True),
    Row("POST", "/applications/{application}/withdraw", (401, 403, 404, 200, 404, 403), fresh=True),
    # Analytics: an empty batch is refused by content (422) once the role may ingest at all.
    Row("POST", "/analytics/events", (401, 422, 422, 422, 422, 403), body={"events": []}),
    *(
        Row("GET", f"/campaigns/{{published}}/analytics/{report}", (401, 200, 403, 403, 403, 200))
        for report in ("summary", "timeseries", "creators", "platforms")
    ),
    Row("GET", "/campaigns/{draft}/analytics/summary", (401, 200, 404, 403, 403, 200)),
    Row(  # a brand for itself; an admin must name the brand
        "POST",
        "/analytics/ingestion-keys",
        (401, 201, 201, 403, 403, 422),
        body={"name": "tracker"},
    ),
    Row(  # for the owner's brand: the owner and admins only
        "POST",
        "/analytics/ingestion-keys",
        (401, 201, 403, 403, 403, 201),
        body=owner_key_body,
    ),
    Row("GET", "/analytics/ingestion-keys", (401, 200, 200, 403, 403, 200)),
    Row(  # the owner's key
        "DELETE",
        "/analytics/ingestion-keys/{ingestion_key}",
        (401, 204, 404, 403, 403, 204),
        fresh=True,
    ),
    # Tracking links: the two parties of an accepted application; a pending one is 409.
    Row(
        "POST",
        "/applications/{application}/tracking-links",
        (401, 409, 404, 409, 404, 403),
        body={"destination_url": "https://shop.example/"},
    ),
    Row(
        "POST",
        "/applications/{accepted}/tracking-links",
        (401, 201, 404, 201, 404, 403),
        body={"destination_url": "https://shop.example/"},
    ),
    Row("GET", "/applications/{accepted}/tracking-links", (401, 200, 404, 200, 404, 403)),
    Row("POST", "/tracking-links/{link}/disable", (401, 200, 404, 200, 404, 403), fresh=True),
    # The conversion postback takes an ingestion key only: no token is one.
    Row(
        "POST",
        "/analytics/conversions",
        (401, 401, 401, 401, 401, 401),
        body={"code": "AbCdEfGh1234", "value": 100, "order_id": "o-1"},
    ),
    # Deliverables: {accepted} is the applicant's accepted application to the owner's campaign,
    # {deliverable} a submitted deliverable of it, {changes} one the owner asked to change.
    Row(
        "POST",
        "/applications/{accepted}/deliverables",
        (401, 403, 403, 201, 404, 403),
        fresh=True,
        body=REEL,
    ),
    Row("GET", "/applications/{accepted}/deliverables", (401, 200, 404, 200, 404, 200)),
    Row("GET", "/campaigns/{accepted_campaign}/deliverables", (401, 200, 404, 403, 403, 200)),
    Row("GET", "/deliverables/{deliverable}", (401, 200, 404, 200, 404, 200)),
    Row(
        "PUT",
        "/deliverables/{changes}",
        (401, 403, 403, 200, 404, 403),
        fresh=True,
        body={"url": "https://instagram.com/p/v2"},
    ),
    Row("POST", "/deliverables/{deliverable}/approve", (401, 200, 404, 403, 403, 403), fresh=True),
    Row(
        "POST",
        "/deliverables/{deliverable}/request-changes",
        (401, 200, 404, 403, 403, 403),
        fresh=True,
        body={"note": "brighter"},
    ),
    Row("GET", "/conversations", (401, 200, 200, 200, 200, 200)),
    Row("POST", "/conversations", (401, 201, 404, 403, 403, 403), body=open_body),
    Row("GET", "/conversations/{conversation}/messages", (401, 200, 404, 200, 404, 200)),
    Row(
        "POST",
        "/conversations/{conversation}/messages",
        (401, 201, 404, 201, 404, 403),
        body=message_body,
    ),
    Row(
        "POST",
        "/conversations/{conversation}/read",
        (401, 200, 404, 200, 404, 403),
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
        applicant = self.users["applicant"]
        if kind == "accepted_campaign":
            apply(api, applicant, campaign["id"])
            return campaign["id"]  # applying gave applications its copy of the campaign
        if kind in ("accepted", "deliverable", "changes", "link"):
            application = accepted_application(api, owner, applicant, campaign["id"])["id"]
            if kind == "accepted":
                return application
            if kind == "link":
                body = {"destination_url": "https://shop.example/"}
                path = f"{A}/applications/{application}/tracking-links"
                made = call(api, "POST", path, owner, body)
                assert made.status_code == 201, made.text
                return made.json()["id"]
            path = f"{A}/applications/{application}/deliverables"
            deliverable = call(api, "POST", path, applicant, REEL).json()["id"]
            if kind == "changes":
                path = f"{A}/deliverables/{deliverable}/request-changes"
                changed = call(api, "POST", path, owner, {"note": "brighter"})
                assert changed.status_code == 200, changed.text
            return deliverable
        if kind == "conversation":
            application = apply(api, applicant, campaign["id"]).json()["id"]
            opened = call(api, "POST", f"{A}/conversations", owner, {"application_id": application})
            assert opened.status_code == 201, opened.text
            return opened.json()["id"]
        if kind == "paused":
            call(api, "POST", f"{A}/campaigns/{campaign['id']}/pause", owner)
        if kind == "application":
            return apply(api, applicant, campaign["id"]).json()["id"]
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
            path = A + row.path.format(**ids)
            response = call(api, row.method, path, world.users[role], body)
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
    parameters = {
        "draft": "{campaign_id}",
        "published": "{campaign_id}",
        "paused": "{campaign_id}",
        "application": "{application_id}",
        "owner": "{brand_id}",
        "applicant": "{creator_id}",
        "ingestion_key": "{key_id}",
        "conversation": "{conversation_id}",
        "link": "{link_id}",
        "accepted_campaign": "{campaign_id}",
        "accepted": "{application_id}",
        "deliverable": "{deliverable_id}",
        "changes": "{deliverable_id}",
    }
    covered = {(row.method, A + row.path.split("?")[0].format(**parameters)) for row in MATRIX}
    assert documented <= covered, documented - covered
