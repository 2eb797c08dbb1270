"""/api/v1/campaigns/{id}/applications and /api/v1/applications."""

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.bodies import json_response
from gateway_http.caller import query_params
from gateway_http.edge import RouteSpec, route
from services.applications.schemas import (
    Application,
    ApplicationCreate,
    ApplicationPage,
    ApplicationQuery,
)

NOT_FOUND = "no such application (or not yours)"


def _action_spec(summary: str) -> RouteSpec:
    return RouteSpec(
        summary,
        "applications",
        responses={
            200: Application,
            404: NOT_FOUND,
            409: "the application's status (or the campaign's slots) do not allow this",
        },
    )


class ApplicationRoutes:
    applications_rpc: Any

    @route(
        "POST",
        "/api/v1/campaigns/<campaign_id>/applications",
        RouteSpec(
            "Apply to a published campaign (creators, once per campaign)",
            "applications",
            body=ApplicationCreate,
            responses={
                201: Application,
                404: "no such campaign",
                409: "already applied, campaign not open, or requirements not met",
            },
            roles=("creator",),
            rules=("proposed_rate in the campaign's currency",),
        ),
    )
    def apply(self, request: Request, campaign_id: str, body: Any) -> Response:
        return json_response(self.applications_rpc.submit(campaign_id, body), status=201)

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>/applications",
        RouteSpec(
            "A campaign's applications (its brand, admins)",
            "applications",
            query_model=ApplicationQuery,
            responses={200: ApplicationPage, 404: "no such campaign"},
            roles=("brand", "admin"),
        ),
    )
    def list_campaign_applications(self, request: Request, campaign_id: str) -> Response:
        return json_response(
            self.applications_rpc.list_for_campaign(campaign_id, query_params(request))
        )

    @route(
        "GET",
        "/api/v1/applications",
        RouteSpec(
            "Own applications (creator: sent; brand: received; admin: all)",
            "applications",
            query_model=ApplicationQuery,
            responses={200: ApplicationPage},
        ),
    )
    def list_own_applications(self, request: Request) -> Response:
        return json_response(self.applications_rpc.list_own(query_params(request)))

    @route(
        "GET",
        "/api/v1/applications/<application_id>",
        RouteSpec(
            "One application (its creator, the campaign's brand, admins)",
            "applications",
            responses={200: Application, 404: NOT_FOUND},
        ),
    )
    def get_application(self, request: Request, application_id: str) -> Response:
        return json_response(self.applications_rpc.get_application(application_id))

    def _change_application_status(self, application_id: str, action: str) -> Response:
        return json_response(self.applications_rpc.change_status(application_id, action))

    @route(
        "POST",
        "/api/v1/applications/<application_id>/shortlist",
        _action_spec("Shortlist (the campaign's brand)"),
    )
    def shortlist_application(self, request: Request, application_id: str) -> Response:
        return self._change_application_status(application_id, "shortlist")

    @route(
        "POST",
        "/api/v1/applications/<application_id>/accept",
        _action_spec("Accept (the campaign's brand; at most max_creators)"),
    )
    def accept_application(self, request: Request, application_id: str) -> Response:
        return self._change_application_status(application_id, "accept")

    @route(
        "POST",
        "/api/v1/applications/<application_id>/reject",
        _action_spec("Reject (the campaign's brand)"),
    )
    def reject_application(self, request: Request, application_id: str) -> Response:
        return self._change_application_status(application_id, "reject")

    @route(
        "POST",
        "/api/v1/applications/<application_id>/withdraw",
        _action_spec("Withdraw (the creator, while submitted or shortlisted)"),
    )
    def withdraw_application(self, request: Request, application_id: str) -> Response:
        return self._change_application_status(application_id, "withdraw")
