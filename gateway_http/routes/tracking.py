"""Tracking links: /api/v1/applications/{id}/tracking-links (create, list),
/api/v1/tracking-links/{id}/disable, the public redirect GET /t/{code}, and the shops'
conversion postback /api/v1/analytics/conversions (ingestion key)."""

import datetime as dt
from typing import Any

import prometheus_client
from werkzeug.wrappers import Request, Response

from dependencies.ingest_queue import INGEST_QUEUE_NAME, IngestPublisher
from gateway_http import link_redirect
from gateway_http.bodies import json_response
from gateway_http.caller import query_params
from gateway_http.edge import RouteSpec, route
from gateway_http.routes.analytics import INGESTION_KEY_HEADER
from kernel.errors import NotFound
from services.analytics import clicks
from services.analytics.tracking_schemas import (
    ConversionCreate,
    ConversionRecorded,
    TrackingLink,
    TrackingLinkCreate,
    TrackingLinkList,
    TrackingLinkQuery,
)

NOT_FOUND = "no such application (or not yours)"

LINK_REDIRECTS = prometheus_client.Counter(
    "tracking_link_redirects_total",
    "GET /t/{code} answers by outcome: counted click, repeat visitor, bot, unknown code, or a "
    "click that could not be queued (redirected anyway).",
    ["outcome"],
)


class TrackingRoutes:
    analytics_rpc: Any
    redis: Any
    config: Any
    click_events = IngestPublisher()

    @property
    def link_cache_seconds(self) -> int:
        return int(self.config.get("TRACKING", {}).get("CACHE_SECONDS", 300))

    def _publish_click(self, body: dict[str, Any]) -> None:
        self.click_events(
            body,
            routing_key=INGEST_QUEUE_NAME,
            mandatory=True,
            retry_policy=link_redirect.PUBLISH_RETRY_POLICY,
        )

    @route(
        "POST",
        "/api/v1/applications/<application_id>/tracking-links",
        RouteSpec(
            "Create a tracking link for an accepted application (its brand or its creator)",
            "tracking",
            body=TrackingLinkCreate,
            responses={
                201: TrackingLink,
                404: NOT_FOUND,
                409: "the application is not accepted",
            },
            roles=("brand", "creator"),
            rules=("destination_url: an absolute http(s) URL with a host and no credentials",),
        ),
    )
    def create_tracking_link(self, request: Request, application_id: str, body: Any) -> Response:
        link = self.analytics_rpc.create_tracking_link(application_id, body)
        return json_response(link, status=201, headers={"Location": link["url"]})

    @route(
        "GET",
        "/api/v1/applications/<application_id>/tracking-links",
        RouteSpec(
            "An application's tracking links, newest first (its brand or its creator)",
            "tracking",
            query_model=TrackingLinkQuery,
            responses={200: TrackingLinkList, 404: NOT_FOUND},
            roles=("brand", "creator"),
        ),
    )
    def list_tracking_links(self, request: Request, application_id: str) -> Response:
        return json_response(
            self.analytics_rpc.list_tracking_links(application_id, query_params(request))
        )

    @route(
        "POST",
        "/api/v1/tracking-links/<link_id>/disable",
        RouteSpec(
            "Disable a tracking link for good: it answers 404 from now on (brand or creator)",
            "tracking",
            responses={200: TrackingLink, 404: "no such tracking link (or not yours)"},
            roles=("brand", "creator"),
        ),
    )
    def disable_tracking_link(self, request: Request, link_id: str) -> Response:
        link = self.analytics_rpc.disable_tracking_link(link_id)
        link_redirect.forget(self.redis, link["code"], self.link_cache_seconds)
        return json_response(link)

    @route(
        "GET",
        "/t/<code>",
        RouteSpec(
            "Follow a tracking link: 302 to its destination (with click_id added); counts a "
            "click unless the visitor is a bot or clicked this link in the last 30 minutes",
            "tracking",
            authenticated=False,
            responses={302: "redirect to the link's destination", 404: "unknown or disabled"},
            response_headers={"Location": "the destination URL with click_id=<id> added"},
        ),
    )
    def follow_tracking_link(self, request: Request, code: str) -> Response:
        link = link_redirect.resolve(
            self.redis, code, self.analytics_rpc.resolve_tracking_link, self.link_cache_seconds
        )
        if link is None:
            LINK_REDIRECTS.labels("unknown").inc()
            raise NotFound("no such link")
        user_agent = request.headers.get("User-Agent")
        address = request.remote_addr
        click_id, record = link_redirect.visit(self.redis, link, address, user_agent)
        outcome = "bot" if click_id is None else "counted" if record else "repeat"
        if record and click_id is not None:
            event = clicks.click_event(link, click_id, user_agent, dt.datetime.now(dt.UTC))
            if not link_redirect.queue_click(self._publish_click, event):
                link_redirect.unrecord(self.redis, link, address, user_agent)
                outcome = "not_queued"
        LINK_REDIRECTS.labels(outcome).inc()
        destination = link["destination_url"]
        location = clicks.with_click_id(destination, click_id) if click_id else destination
        return Response(
            status=302,
            headers={
                "Location": location,
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    @route(
        "POST",
        "/api/v1/analytics/conversions",
        RouteSpec(
            "Report a shop order for a tracking link (ingestion key); the same order_id again "
            "counts once and answers the same",
            "tracking",
            body=ConversionCreate,
            authenticated=False,
            responses={
                202: ConversionRecorded,
                401: "missing, invalid or revoked ingestion key",
                409: "this order_id was reported before with another link or value",
                422: "invalid body, or no tracking link by that code or click_id",
            },
            headers={INGESTION_KEY_HEADER: "an ingestion key (required)"},
            rules=(
                "code or click_id: exactly one, naming a tracking link this sender may report for",
            ),
            key_header=INGESTION_KEY_HEADER,
        ),
    )
    def record_conversion(self, request: Request, body: Any) -> Response:
        key = request.headers[INGESTION_KEY_HEADER]
        return json_response(self.analytics_rpc.record_conversion(key, body), status=202)
