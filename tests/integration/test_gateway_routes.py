"""The gateway's routes in Nameko's own style, without a broker: the real GatewayService in a
container (nameko's `container_factory`), every RPC proxy and the click publisher swapped for
mocks with `replace_dependencies`, requests through `web_session`. Only Redis is real (rate limits
and the denylist); AMQP_URI points at a port where nothing listens, so anything that reached for
RabbitMQ would fail the start within its timeout.

nameko 2.14's `replace_dependencies` swaps the providers but leaves their sub-extensions in the
container: the RPC proxies' shared ReplyListener and its QueueConsumer, which connect to RabbitMQ
when the container starts (and retry forever without one). `without_orphans` recomputes the
sub-extensions from what the container still has, which drops exactly those."""

import logging
import re
from unittest.mock import ANY

import eventlet
import prometheus_client
import pytest
from nameko.exceptions import deserialize, serialize
from nameko.extensions import iter_extensions
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener
from nameko.testing.services import replace_dependencies
from nameko.utils.concurrency import SpawningSet

from gateway_http import edge
from gateway_http.campaign_lists import public_query
from gateway_http.service import GatewayService
from kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TooManyRequests,
)
from kernel.tokens import TokenCodec
from services.campaigns.cache import GENERATION_KEY, KEY_PREFIX, query_digest
from tests.e2e.marketplace import brand_profile, campaign_body, creator_profile

pytestmark = pytest.mark.integration

NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"
# Every dependency that speaks AMQP: with them replaced, the container never connects.
AMQP_DEPENDENCIES = (
    "auth_rpc",
    "users_rpc",
    "campaigns_rpc",
    "applications_rpc",
    "analytics_rpc",
    "messaging_rpc",
    "click_events",
)
PROBLEM = "application/problem+json"


class Gateway:
    def __init__(self, container, rpcs, codec):
        self.container = container
        self.rpc = dict(zip(AMQP_DEPENDENCIES, rpcs, strict=True))
        self._codec = codec

    def token(self, role, user_id=None):
        token, _ = self._codec.issue_access_token(
            subject=user_id or f"{role}-1", role=role, session_id=f"s-{role}"
        )
        return token

    def bearer(self, role, user_id=None):
        return {"Authorization": f"Bearer {self.token(role, user_id)}"}

    def rpc_calls(self):
        return [call for mock in self.rpc.values() for call in mock.mock_calls]


def without_orphans(container):
    """Keep only the sub-extensions of the container's remaining entrypoints and dependencies."""
    container.subextensions = SpawningSet(
        sub
        for extension in container.entrypoints | container.dependencies
        for sub in iter_extensions(extension)
    )


@pytest.fixture
def gateway(container_factory, web_config, base_config, redis_client):
    config = {**base_config, **web_config, "AMQP_URI": NO_BROKER}
    container = container_factory(GatewayService, config)
    rpcs = list(replace_dependencies(container, *AMQP_DEPENDENCIES))
    without_orphans(container)
    assert not any(isinstance(e, ReplyListener | QueueConsumer) for e in container.extensions)
    with eventlet.Timeout(10):
        container.start()
    return Gateway(container, rpcs, TokenCodec.from_config(base_config, signing=True))


def remote(error):
    """The error as the gateway's RPC proxy raises it: serialised by the service, deserialised
    into the registered class on this side."""
    return deserialize(serialize(error))


def assert_problem(response, status, slug):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].endswith("/" + slug)
    assert problem["request_id"] == response.headers["X-Request-ID"]
    assert problem["instance"] == response.request.path_url.split("?")[0]
    return problem


def campaign(version=3, brand_id="brand-1"):
    return {"id": "c1", "brand_id": brand_id, "version": version, "title": "Launch"}


# ETag / If-None-Match / If-Match


def test_a_campaign_read_carries_its_version_as_etag_and_answers_304_to_it(gateway, web_session):
    gateway.rpc["campaigns_rpc"].get_campaign.return_value = campaign(version=3)
    creator = gateway.bearer("creator")
    read = web_session.get("/api/v1/campaigns/c1", headers=creator)
    assert read.status_code == 200
    assert read.headers["ETag"] == '"3"'
    assert read.json()["version"] == 3
    assert "deliverables_progress" not in read.json()  # not the brand's: no progress
    assert read.headers["RateLimit-Limit"]  # the edge's limits ran

    again = web_session.get(
        "/api/v1/campaigns/c1", headers={**creator, "If-None-Match": read.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.headers["ETag"] == '"3"' and again.content == b""


def test_the_brands_etag_also_covers_the_deliverables_progress(gateway, web_session):
    gateway.rpc["campaigns_rpc"].get_campaign.return_value = campaign(version=3)
    progress = gateway.rpc["applications_rpc"].campaign_deliverables_progress
    progress.return_value = {"owed": 2, "approved": 0}
    owner = gateway.bearer("brand", "brand-1")
    first = web_session.get("/api/v1/campaigns/c1", headers=owner)
    assert first.json()["deliverables_progress"] == {"owed": 2, "approved": 0}
    assert first.headers["ETag"].startswith('"3.')

    progress.return_value = {"owed": 2, "approved": 1}
    changed = web_session.get(
        "/api/v1/campaigns/c1", headers={**owner, "If-None-Match": first.headers["ETag"]}
    )
    assert changed.status_code == 200  # same campaign version, other progress: a new tag
    assert changed.headers["ETag"] not in (first.headers["ETag"], '"3"')


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [(None, None), ('"7"', 7), ('W/"7.3f2a9c01"', 7), ("*", None), ('"seven"', -1)],
)
def test_if_match_reaches_the_service_as_the_expected_version(
    gateway, web_session, if_match, expected
):
    update = gateway.rpc["campaigns_rpc"].update_campaign
    update.return_value = campaign(version=8)
    headers = gateway.bearer("brand")
    if if_match is not None:
        headers["If-Match"] = if_match
    answer = web_session.patch("/api/v1/campaigns/c1", json={"title": "New"}, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["ETag"] == '"8"'
    update.assert_called_once_with("c1", {"title": "New"}, expected)


def test_a_stale_if_match_is_a_412_problem(gateway, web_session):
    gateway.rpc["campaigns_rpc"].update_campaign.side_effect = remote(
        PreconditionFailed("the campaign changed: version 9, If-Match named 7")
    )
    answer = web_session.patch(
        "/api/v1/campaigns/c1",
        json={"title": "New"},
        headers={**gateway.bearer("brand"), "If-Match": '"7"'},
    )
    problem = assert_problem(answer, 412, "precondition-failed")
    assert problem["detail"] == "the campaign changed: version 9, If-Match named 7"


def test_a_conditional_edit_is_decided_before_its_body(gateway, web_session):
    """RFC 9110 13.2.1: with If-Match the service, which knows the version, answers the
    precondition first and validates the body after it; without, the gateway answers 422."""
    update = gateway.rpc["campaigns_rpc"].update_campaign
    update.side_effect = remote(PreconditionFailed("the campaign changed"))
    invalid = {"title": 42}
    stale = web_session.patch(
        "/api/v1/campaigns/c1",
        json=invalid,
        headers={**gateway.bearer("brand"), "If-Match": '"7"'},
    )
    assert_problem(stale, 412, "precondition-failed")
    update.assert_called_once_with("c1", invalid, 7)
    unconditional = web_session.patch(
        "/api/v1/campaigns/c1", json=invalid, headers=gateway.bearer("brand")
    )
    assert_problem(unconditional, 422, "validation-failed")
    assert update.call_count == 1


# Error mapping: a DomainError from a service becomes problem+json with its status


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (NotFound("no such campaign"), 404, "not-found"),
        (Forbidden("not your campaign"), 403, "forbidden"),
        (Conflict("only drafts can be deleted"), 409, "conflict"),
        (ServiceUnavailable("campaigns did not answer within 5s"), 503, "service-unavailable"),
    ],
)
def test_a_service_error_becomes_problem_json_with_its_status(
    gateway, web_session, error, status, slug
):
    gateway.rpc["campaigns_rpc"].delete_campaign.side_effect = remote(error)
    answer = web_session.delete("/api/v1/campaigns/c1", headers=gateway.bearer("brand"))
    problem = assert_problem(answer, status, slug)
    assert problem["detail"] == error.detail
    assert problem["errors"] == []


def test_a_services_validation_errors_are_listed(gateway, web_session):
    errors = [{"field": "amount", "message": "over the budget", "code": "too_large"}]
    gateway.rpc["applications_rpc"].submit.side_effect = remote(
        InvalidInput("application failed validation", errors)
    )
    answer = web_session.post(
        "/api/v1/campaigns/c1/applications",
        json={"pitch": "I make videos", "proposed_rate": {"amount": 100, "currency": "EUR"}},
        headers=gateway.bearer("creator"),
    )
    assert assert_problem(answer, 422, "validation-failed")["errors"] == errors


def test_a_services_rate_limit_keeps_its_retry_after(gateway, web_session):
    gateway.rpc["auth_rpc"].login.side_effect = remote(
        TooManyRequests.retry_in("too many failed logins", 42)
    )
    answer = web_session.post(
        "/api/v1/auth/login", json={"email": "a@example.com", "password": "x" * 12}
    )
    assert_problem(answer, 429, "too-many-requests")
    assert answer.headers["Retry-After"] == "42"
    assert answer.json()["errors"] == []


def test_an_unexpected_error_is_a_500_without_a_stack_trace(gateway, web_session):
    gateway.rpc["campaigns_rpc"].delete_campaign.side_effect = RuntimeError("secret detail")
    answer = web_session.delete("/api/v1/campaigns/c1", headers=gateway.bearer("brand"))
    problem = assert_problem(answer, 500, "internal-error")
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert problem["request_id"] in problem["detail"]


# Validation, authentication and roles: answered before any RPC


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**campaign_body(), "unknown": 1}, "unknown"),
        ({**campaign_body(), "title": 42}, "title"),
        ({k: v for k, v in campaign_body().items() if k != "title"}, "title"),
    ],
)
def test_an_invalid_body_is_a_422_before_any_rpc(gateway, web_session, body, field):
    answer = web_session.post("/api/v1/campaigns", json=body, headers=gateway.bearer("brand"))
    problem = assert_problem(answer, 422, "validation-failed")
    assert field in [error["field"] for error in problem["errors"]]
    gateway.rpc["campaigns_rpc"].create_campaign.assert_not_called()
    assert gateway.rpc_calls() == []


def test_a_valid_body_reaches_the_service_as_the_client_sent_it(gateway, web_session):
    create = gateway.rpc["campaigns_rpc"].create_campaign
    create.return_value = campaign(version=1)
    body = campaign_body()
    answer = web_session.post("/api/v1/campaigns", json=body, headers=gateway.bearer("brand"))
    assert answer.status_code == 201 and answer.headers["ETag"] == '"1"'
    create.assert_called_once_with(body)


@pytest.mark.parametrize(
    ("data", "content_type", "status", "slug"),
    [
        (b'{"title": ', "application/json", 400, "malformed-json"),
        (b'{"title": "x"}', "text/plain", 415, "unsupported-media-type"),
        (b"", "application/json", 400, "malformed-json"),
    ],
)
def test_unreadable_bodies_never_reach_a_service(
    gateway, web_session, data, content_type, status, slug
):
    answer = web_session.post(
        "/api/v1/campaigns",
        data=data,
        headers={**gateway.bearer("brand"), "Content-Type": content_type},
    )
    assert_problem(answer, status, slug)
    assert gateway.rpc_calls() == []


@pytest.mark.parametrize(
    ("method", "path"), [("PATCH", "/api/v1/me/profile"), ("POST", "/api/v1/campaigns")]
)
def test_a_json_null_body_is_refused_not_taken_for_an_empty_object(
    gateway, web_session, method, path
):
    answer = web_session.request(
        method,
        path,
        data=b"null",
        headers={**gateway.bearer("brand"), "Content-Type": "application/json"},
    )
    assert_problem(answer, 422, "validation-failed")
    assert gateway.rpc_calls() == []


def test_authentication_and_role_come_before_the_body(gateway, web_session):
    unauthenticated = web_session.post("/api/v1/campaigns", data=b"{not json")
    assert_problem(unauthenticated, 401, "unauthenticated")
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_role = web_session.post(
        "/api/v1/campaigns", json={"unknown": 1}, headers=gateway.bearer("creator")
    )
    assert_problem(wrong_role, 403, "forbidden")
    assert "brand" in wrong_role.json()["detail"]
    assert gateway.rpc_calls() == []


def test_a_profile_body_is_validated_against_the_callers_role(gateway, web_session):
    replace = gateway.rpc["users_rpc"].replace_profile
    replace.return_value = {"role": "creator"}
    as_creator = gateway.bearer("creator")
    refused = web_session.put("/api/v1/me/profile", json=brand_profile(), headers=as_creator)
    assert_problem(refused, 422, "validation-failed")
    replace.assert_not_called()
    accepted = web_session.put("/api/v1/me/profile", json=creator_profile(), headers=as_creator)
    assert accepted.status_code == 200
    replace.assert_called_once_with(creator_profile())


def test_an_admins_profile_body_is_left_to_the_service(gateway, web_session):
    """Admins have no profile: the service's 404, whatever the body."""
    gateway.rpc["users_rpc"].patch_profile.side_effect = remote(
        NotFound("admin accounts have no profile")
    )
    answer = web_session.patch(
        "/api/v1/me/profile", json={"anything": True}, headers=gateway.bearer("admin")
    )
    assert_problem(answer, 404, "not-found")
    gateway.rpc["users_rpc"].patch_profile.assert_called_once_with({"anything": True})


def test_an_optional_body_may_be_empty(gateway, web_session):
    answer = web_session.post("/api/v1/auth/logout", headers=gateway.bearer("creator"))
    assert answer.status_code == 204
    gateway.rpc["auth_rpc"].logout.assert_called_once_with({})


def test_a_key_route_needs_its_key_first_and_leaves_the_body_to_the_service(gateway, web_session):
    missing = web_session.post("/api/v1/analytics/conversions", json={"bogus": 1})
    assert_problem(missing, 401, "unauthenticated")
    assert gateway.rpc_calls() == []

    record = gateway.rpc["analytics_rpc"].record_conversion
    record.side_effect = remote(Forbidden("no such ingestion key"))
    keyed = web_session.post(
        "/api/v1/analytics/conversions", json={"bogus": 1}, headers={"X-Ingestion-Key": "k-1"}
    )
    assert_problem(keyed, 403, "forbidden")
    record.assert_called_once_with("k-1", {"bogus": 1})


def test_event_ingestion_passes_the_text_on_for_a_key_or_a_token(gateway, web_session):
    analytics = gateway.rpc["analytics_rpc"]
    analytics.ingest.return_value = {"accepted": 1}
    analytics.ingest_with_key.return_value = {"accepted": 1}
    text = '{"events": []}'
    headers = {"Content-Type": "application/json"}
    with_key = web_session.post(
        "/api/v1/analytics/events", data=text, headers={**headers, "X-Ingestion-Key": "k-1"}
    )
    assert with_key.status_code == 202
    analytics.ingest_with_key.assert_called_once_with("k-1", text)
    as_brand = web_session.post(
        "/api/v1/analytics/events", data=text, headers={**headers, **gateway.bearer("brand")}
    )
    assert as_brand.status_code == 202
    analytics.ingest.assert_called_once_with(text)
    as_admin = web_session.post(
        "/api/v1/analytics/events", data=text, headers={**headers, **gateway.bearer("admin")}
    )
    assert_problem(as_admin, 403, "forbidden")
    assert analytics.ingest.call_count == 1


def test_the_callers_token_travels_in_the_workers_context(gateway, web_session, monkeypatch):
    """Every RPC of the worker sends its context data along: the token, once verified."""
    contexts = []
    spawn = gateway.container.spawn_worker

    def recording(entrypoint, args, kwargs, context_data=None, **options):
        contexts.append(dict(context_data or {}))
        return spawn(entrypoint, args, kwargs, context_data=context_data, **options)

    monkeypatch.setattr(gateway.container, "spawn_worker", recording)
    gateway.rpc["auth_rpc"].get_own_account.return_value = {"id": "creator-1"}
    token = gateway.token("creator")
    answer = web_session.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-1"}
    )
    assert answer.status_code == 200
    assert web_session.get("/api/v1/openapi.json").status_code == 200
    assert contexts == [{"request_id": "req-1", "auth_token": token}, {"request_id": ANY}]


def test_a_cached_public_page_is_answered_without_a_worker_until_the_generation_moves(
    gateway, web_session, redis_client, monkeypatch
):
    """The page the campaigns service stored for the current generation is answered as it is, by
    the entrypoint itself (no worker, no RPC); once a campaign event bumped the generation the
    same query goes to the service. mine=true and admins always do."""
    workers = []
    spawn = gateway.container.spawn_worker

    def recording(entrypoint, *args, **options):
        workers.append(entrypoint.method_name)
        return spawn(entrypoint, *args, **options)

    monkeypatch.setattr(gateway.container, "spawn_worker", recording)
    listing = gateway.rpc["campaigns_rpc"].list_campaigns
    listing.return_value = {"items": [], "next_cursor": None}
    query = {"limit": "5", "niche": "gaming"}
    digest = query_digest(public_query("creator", query))
    page = b'{"items": [{"id": "c1"}], "next_cursor": null}'
    redis_client.set(GENERATION_KEY, "4")
    redis_client.set(f"{KEY_PREFIX}4:{digest}", page)
    creator = gateway.bearer("creator")
    for _ in range(2):
        answer = web_session.get("/api/v1/campaigns?limit=5&niche=gaming", headers=creator)
        assert answer.status_code == 200 and answer.content == page
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["RateLimit-Limit"] and answer.headers["X-Request-ID"]
    assert workers == [] and listing.call_count == 0

    redis_client.incr(GENERATION_KEY)  # what the campaigns service does on a campaign event
    answer = web_session.get("/api/v1/campaigns?limit=5&niche=gaming", headers=creator)
    assert answer.json() == {"items": [], "next_cursor": None}
    listing.assert_called_once_with(query)
    web_session.get("/api/v1/campaigns?mine=true", headers=gateway.bearer("brand"))
    redis_client.set(f"{KEY_PREFIX}5:{digest}", page)
    web_session.get("/api/v1/campaigns?limit=5&niche=gaming", headers=gateway.bearer("admin"))
    assert workers == ["list_campaigns"] * 3 and listing.call_count == 3
    again = web_session.get("/api/v1/campaigns?limit=5&niche=gaming", headers=creator)
    assert again.content == page
    assert workers == ["list_campaigns"] * 3


def test_a_query_the_cache_cannot_answer_reaches_the_service_as_sent(gateway, web_session):
    """An invalid query is the service's to refuse (its 422), even though the gateway has read
    that query string before."""
    listing = gateway.rpc["campaigns_rpc"].list_campaigns
    listing.side_effect = remote(InvalidInput("query failed validation", [{"field": "limit"}]))
    for _ in range(2):
        answer = web_session.get("/api/v1/campaigns?limit=0", headers=gateway.bearer("creator"))
        assert_problem(answer, 422, "validation-failed")
    assert listing.call_count == 2
    assert listing.call_args.args == ({"limit": "0"},)


def test_one_access_line_per_request(gateway, web_session, caplog):
    """The gateway's own line (route, status, time, client, request id); eventlet's duplicate
    access line is dropped, its other lines (tracebacks) are not."""
    with caplog.at_level(logging.INFO):
        for request_id in ("req-8", "req-9"):  # the same connection: the first one's lines are out
            answer = web_session.get("/healthz?probe=1", headers={"X-Request-ID": request_id})
            assert answer.status_code == 200
        edge.WsgiServerLog(logging.getLogger("nameko.web.server")).info("a traceback")
    lines = [(record.name, record.getMessage()) for record in caplog.records]
    ours = [message for name, message in lines if name == "gateway_http"]
    assert len(ours) == 2
    assert re.fullmatch(r"GET /healthz 200 [0-9.]+ms client=127\.0\.0\.1 request_id=req-8", ours[0])
    assert [message for name, message in lines if name == "nameko.web.server"] == ["a traceback"]


def test_requests_are_counted_and_timed_by_route_template(gateway, web_session):
    labels = {"method": "GET", "route": "/api/v1/campaigns/<campaign_id>"}
    counted = {**labels, "status": "401"}

    def sample(name, sample_labels):
        return prometheus_client.REGISTRY.get_sample_value(name, sample_labels) or 0.0

    before = (
        sample("http_requests_total", counted),
        sample("http_request_duration_seconds_count", labels),
    )
    for campaign_id in ("c1", "c2"):
        assert web_session.get(f"/api/v1/campaigns/{campaign_id}").status_code == 401
    after = (
        sample("http_requests_total", counted),
        sample("http_request_duration_seconds_count", labels),
    )
    assert after == (before[0] + 2, before[1] + 2)
