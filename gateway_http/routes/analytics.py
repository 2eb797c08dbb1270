"""/api/v1/analytics/events (ingest), /api/v1/campaigns/{id}/analytics/* (reports) and
/api/v1/analytics/ingestion-keys (a brand's own keys; admins: any brand's)."""

import codecs
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.authn import Principal
from gateway_http.bodies import json_response, no_content, read_body
from gateway_http.caller import query_params
from gateway_http.edge import RouteSpec, route
from kernel.json_text import parse_json_text
from services.analytics.schemas import (
    AnalyticsQuery,
    CreatorBreakdown,
    EventBatch,
    IngestionKeyCreate,
    IngestionKeyCreated,
    IngestionKeyList,
    IngestionKeyQuery,
    IngestResult,
    PlatformBreakdown,
    Summary,
    TimeSeries,
)

INGESTION_KEY_HEADER = "X-Ingestion-Key"
NOT_FOUND = "no such campaign (or a draft of another brand)"


def _report_spec(summary: str, model: type) -> RouteSpec:
    return RouteSpec(
        summary,
        "analytics",
        query_model=AnalyticsQuery,
        responses={200: model, 403: "not the campaign's brand", 404: NOT_FOUND},
        roles=("brand", "admin"),
        rules=("from < to, at most 366 days apart",),
    )


def json_text(request: Request) -> Any:
    """The body as JSON text, not parsed: the analytics service parses and validates a batch in
    one pass (and answers bad JSON with the same 400). Size and media type are checked here as
    for every body; text that is not UTF-8 or starts with a BOM is parsed here instead."""
    raw = read_body(request) or b""
    if not raw.startswith(codecs.BOM_UTF8):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return parse_json_text(raw)


class AnalyticsRoutes:
    analytics_rpc: Any

    @route(
        "POST",
        "/api/v1/analytics/events",
        RouteSpec(
            "Ingest a batch of up to 1,000 events (the campaign's brand, its accepted creators, "
            "or an ingestion key); all or nothing",
            "analytics",
            body=EventBatch,
            responses={
                202: IngestResult,
                422: "invalid events (errors[] names each by index); nothing was stored",
            },
            headers={INGESTION_KEY_HEADER: "an ingestion key, instead of a bearer token"},
            rules=(
                "campaign_id names a campaign the sender may report for",
                "ts within the last 90 days, and not after the creator's acceptance",
                "creator_id is accepted on the campaign (a creator reports only its own)",
                "value only on conversions",
            ),
            roles=("brand", "creator"),
            key_header=INGESTION_KEY_HEADER,
            parse_body=False,  # the service validates the batch's text in one pass
        ),
    )
    def ingest_events(self, request: Request, principal: Principal | None) -> Response:
        body = json_text(request)
        if principal is None:
            key = request.headers[INGESTION_KEY_HEADER]
            return json_response(self.analytics_rpc.ingest_with_key(key, body), status=202)
        return json_response(self.analytics_rpc.ingest(body), status=202)

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>/analytics/summary",
        _report_spec("Campaign summary: reach, engagement, conversions, spend efficiency", Summary),
    )
    def analytics_summary(self, request: Request, campaign_id: str) -> Response:
        return self._report(request, "summary", campaign_id)

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>/analytics/timeseries",
        _report_spec("One metric per hour or day, zero-filled, in a time zone", TimeSeries),
    )
    def analytics_timeseries(self, request: Request, campaign_id: str) -> Response:
        return self._report(request, "timeseries", campaign_id)

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>/analytics/creators",
        _report_spec("Figures per creator, sorted by `metric` (largest first)", CreatorBreakdown),
    )
    def analytics_creators(self, request: Request, campaign_id: str) -> Response:
        return self._report(request, "creators", campaign_id)

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>/analytics/platforms",
        _report_spec("Figures per platform, sorted by `metric` (largest first)", PlatformBreakdown),
    )
    def analytics_platforms(self, request: Request, campaign_id: str) -> Response:
        return self._report(request, "platforms", campaign_id)

    def _report(self, request: Request, report: str, campaign_id: str) -> Response:
        answer = getattr(self.analytics_rpc, report)(campaign_id, query_params(request))
        return json_response(answer)

    @route(
        "POST",
        "/api/v1/analytics/ingestion-keys",
        RouteSpec(
            "Create an ingestion key for one brand's campaigns (a brand for itself, an admin for "
            "the brand it names); the key is shown only in this answer",
            "analytics",
            body=IngestionKeyCreate,
            responses={
                201: IngestionKeyCreated,
                403: "creators, or a brand naming another brand",
                422: "invalid body, an admin without brand_id, or campaigns not of the brand",
            },
            roles=("brand", "admin"),
            rules=("campaign_ids name campaigns of the key's brand",),
        ),
    )
    def create_ingestion_key(self, request: Request, body: Any) -> Response:
        return json_response(self.analytics_rpc.create_ingestion_key(body), status=201)

    @route(
        "GET",
        "/api/v1/analytics/ingestion-keys",
        RouteSpec(
            "Ingestion keys, newest first (a brand's own; admins: every key)",
            "analytics",
            query_model=IngestionKeyQuery,
            responses={200: IngestionKeyList},
            roles=("brand", "admin"),
        ),
    )
    def list_ingestion_keys(self, request: Request) -> Response:
        return json_response(self.analytics_rpc.list_ingestion_keys(query_params(request)))

    @route(
        "DELETE",
        "/api/v1/analytics/ingestion-keys/<key_id>",
        RouteSpec(
            "Revoke an ingestion key (a brand its own; admins any)",
            "analytics",
            responses={204: None, 404: "no such ingestion key (or another brand's)"},
            roles=("brand", "admin"),
        ),
    )
    def revoke_ingestion_key(self, request: Request, key_id: str) -> Response:
        self.analytics_rpc.revoke_ingestion_key(key_id)
        return no_content()
