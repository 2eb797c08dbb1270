"""/api/v1/applications/{id}/deliverables, /api/v1/deliverables/{id} and
/api/v1/campaigns/{id}/deliverables: content an accepted creator owes, and the brand's review."""

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.bodies import json_response
from gateway_http.caller import query_params
from gateway_http.edge import RouteSpec, route
from services.applications.schemas import (
    ChangeRequest,
    ContentDeliverableDetail,
    ContentDeliverablePage,
    DeliverableQuery,
    DeliverableResubmission,
    DeliverableSubmission,
)

NOT_FOUND = "no such deliverable (or not yours)"
INVALID_TRANSITION = "the deliverable's status does not allow this"


class DeliverableRoutes:
    applications_rpc: Any

    @route(
        "POST",
        "/api/v1/applications/<application_id>/deliverables",
        RouteSpec(
            "Submit a deliverable (the accepted application's creator)",
            "deliverables",
            body=DeliverableSubmission,
            responses={
                201: ContentDeliverableDetail,
                404: "no such application (or not yours)",
                409: "the application is not accepted, the campaign is closed, or everything "
                "of this type and platform owed is already submitted",
            },
            roles=("creator",),
            rules=(
                "type and platform: a deliverable the campaign asks for",
                "url: an absolute http(s) URL with a host",
            ),
        ),
    )
    def submit_deliverable(self, request: Request, application_id: str, body: Any) -> Response:
        return json_response(
            self.applications_rpc.submit_deliverable(application_id, body),
            status=201,
        )

    @route(
        "GET",
        "/api/v1/applications/<application_id>/deliverables",
        RouteSpec(
            "An application's deliverables (its creator, the campaign's brand, admins)",
            "deliverables",
            query_model=DeliverableQuery,
            responses={200: ContentDeliverablePage, 404: "no such application (or not yours)"},
        ),
    )
    def list_application_deliverables(self, request: Request, application_id: str) -> Response:
        return json_response(
            self.applications_rpc.list_application_deliverables(
                application_id, query_params(request)
            )
        )

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>/deliverables",
        RouteSpec(
            "A campaign's deliverables, newest first (its brand, admins); ?status= filters",
            "deliverables",
            query_model=DeliverableQuery,
            responses={200: ContentDeliverablePage, 404: "no such campaign (or not yours)"},
            roles=("brand", "admin"),
        ),
    )
    def list_campaign_deliverables(self, request: Request, campaign_id: str) -> Response:
        return json_response(
            self.applications_rpc.list_campaign_deliverables(campaign_id, query_params(request))
        )

    @route(
        "GET",
        "/api/v1/deliverables/<deliverable_id>",
        RouteSpec(
            "One deliverable with its revisions (its creator, the campaign's brand, admins)",
            "deliverables",
            responses={200: ContentDeliverableDetail, 404: NOT_FOUND},
        ),
    )
    def get_deliverable(self, request: Request, deliverable_id: str) -> Response:
        return json_response(self.applications_rpc.get_deliverable(deliverable_id))

    @route(
        "PUT",
        "/api/v1/deliverables/<deliverable_id>",
        RouteSpec(
            "Resubmit after a change request (the creator): a new revision, back to submitted",
            "deliverables",
            body=DeliverableResubmission,
            responses={200: ContentDeliverableDetail, 404: NOT_FOUND, 409: INVALID_TRANSITION},
            roles=("creator",),
            rules=("url: an absolute http(s) URL with a host",),
        ),
    )
    def resubmit_deliverable(self, request: Request, deliverable_id: str, body: Any) -> Response:
        return json_response(self.applications_rpc.resubmit_deliverable(deliverable_id, body))

    @route(
        "POST",
        "/api/v1/deliverables/<deliverable_id>/approve",
        RouteSpec(
            "Approve a submitted deliverable (the campaign's brand)",
            "deliverables",
            responses={200: ContentDeliverableDetail, 404: NOT_FOUND, 409: INVALID_TRANSITION},
            roles=("brand",),
        ),
    )
    def approve_deliverable(self, request: Request, deliverable_id: str) -> Response:
        return json_response(self.applications_rpc.review_deliverable(deliverable_id, "approve"))

    @route(
        "POST",
        "/api/v1/deliverables/<deliverable_id>/request-changes",
        RouteSpec(
            "Ask for changes to a submitted deliverable (the campaign's brand)",
            "deliverables",
            body=ChangeRequest,
            responses={200: ContentDeliverableDetail, 404: NOT_FOUND, 409: INVALID_TRANSITION},
            roles=("brand",),
        ),
    )
    def request_deliverable_changes(
        self, request: Request, deliverable_id: str, body: Any
    ) -> Response:
        return json_response(
            self.applications_rpc.review_deliverable(deliverable_id, "request_changes", body)
        )
