"""/api/v1/campaigns: CRUD, lifecycle actions, lists; ETag on read, If-Match on PATCH."""

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.authn import Principal
from gateway_http.bodies import json_response, no_content
from gateway_http.caller import etag, expected_version, query_params
from gateway_http.edge import RouteSpec, route
from services.applications.schemas import CampaignDeliverableProgress
from services.campaigns.schemas import (
    Campaign,
    CampaignCreate,
    CampaignPage,
    CampaignPatch,
    CampaignQuery,
)


class CampaignView(Campaign):
    """A campaign; its brand (and admins) also see the deliverables progress of its accepted
    applications."""

    deliverables_progress: CampaignDeliverableProgress | None = None


NOT_FOUND = "no such campaign (or a draft of another brand)"
ETAG = {"ETag": "the campaign's version; send it back in If-Match / If-None-Match"}
INVALID_TRANSITION = "the campaign's status does not allow this action"


def _campaign_response(campaign: dict[str, Any], status: int = 200) -> Response:
    return json_response(campaign, status=status, headers={"ETag": etag(campaign["version"])})


def _action_spec(summary: str) -> RouteSpec:
    return RouteSpec(
        summary,
        "campaigns",
        responses={200: Campaign, 404: NOT_FOUND, 409: INVALID_TRANSITION},
        response_headers=ETAG,
        roles=("brand",),
    )


class CampaignRoutes:
    campaigns_rpc: Any
    applications_rpc: Any

    @route(
        "POST",
        "/api/v1/campaigns",
        RouteSpec(
            "Create a draft campaign (brands)",
            "campaigns",
            body=CampaignCreate,
            responses={201: Campaign},
            response_headers=ETAG,
            roles=("brand",),
            rules=("application_deadline <= starts_at < ends_at",),
        ),
    )
    def create_campaign(self, request: Request, body: Any) -> Response:
        return _campaign_response(self.campaigns_rpc.create_campaign(body), status=201)

    @route(
        "GET",
        "/api/v1/campaigns",
        RouteSpec(
            "Published campaigns; mine=true for a brand's own (drafts included)",
            "campaigns",
            query_model=CampaignQuery,
            responses={200: CampaignPage},
            rules=("min_budget <= max_budget; status other than published only with mine=true",),
        ),
        at_edge="campaign_lists",  # a cached public page: no RPC, no worker
    )
    def list_campaigns(self, request: Request, principal: Principal) -> Response:
        """Whatever the gateway's cache could not answer (gateway_http.campaign_lists): a page
        not cached yet, mine=true, an admin, a query the service refuses."""
        return json_response(self.campaigns_rpc.list_campaigns(query_params(request)))

    @route(
        "GET",
        "/api/v1/campaigns/<campaign_id>",
        RouteSpec(
            "One campaign (ETag: its version)",
            "campaigns",
            responses={200: CampaignView, 304: None, 404: NOT_FOUND},
            headers={"If-None-Match": "answer 304 when the campaign still has this ETag"},
            response_headers=ETAG,
        ),
    )
    def get_campaign(self, request: Request, campaign_id: str, principal: Principal) -> Response:
        campaign = self.campaigns_rpc.get_campaign(campaign_id)
        progress = None
        if principal.is_admin or campaign["brand_id"] == principal.user_id:
            # Composed here: campaigns does not read applications' tables.
            progress = self.applications_rpc.campaign_deliverables_progress(campaign_id)
            campaign["deliverables_progress"] = progress
        tag = etag(campaign["version"], progress)
        if tag in request.headers.get("If-None-Match", ""):
            return Response(status=304, headers={"ETag": tag})
        return json_response(campaign, headers={"ETag": tag})

    @route(
        "PATCH",
        "/api/v1/campaigns/<campaign_id>",
        RouteSpec(
            "Edit a campaign (terms frozen once published; If-Match: the ETag you read)",
            "campaigns",
            body=CampaignPatch,
            responses={
                200: Campaign,
                404: NOT_FOUND,
                409: "closed, or a frozen term of a live campaign",
                412: "If-Match does not match the current version",
            },
            headers={"If-Match": "the ETag of the version this edit is based on"},
            response_headers=ETAG,
            roles=("brand",),
            rules=(
                "the campaign the edit makes keeps application_deadline <= starts_at < ends_at",
            ),
        ),
    )
    def update_campaign(self, request: Request, campaign_id: str, body: Any) -> Response:
        return _campaign_response(
            self.campaigns_rpc.update_campaign(campaign_id, body, expected_version(request))
        )

    @route(
        "DELETE",
        "/api/v1/campaigns/<campaign_id>",
        RouteSpec(
            "Delete a draft",
            "campaigns",
            responses={204: None, 404: NOT_FOUND, 409: "only drafts can be deleted"},
            roles=("brand",),
        ),
    )
    def delete_campaign(self, request: Request, campaign_id: str) -> Response:
        self.campaigns_rpc.delete_campaign(campaign_id)
        return no_content()

    def _change_campaign_status(self, campaign_id: str, action: str) -> Response:
        return _campaign_response(self.campaigns_rpc.change_status(campaign_id, action))

    @route("POST", "/api/v1/campaigns/<campaign_id>/publish", _action_spec("Publish a draft"))
    def publish_campaign(self, request: Request, campaign_id: str) -> Response:
        return self._change_campaign_status(campaign_id, "publish")

    @route(
        "POST", "/api/v1/campaigns/<campaign_id>/pause", _action_spec("Pause a published campaign")
    )
    def pause_campaign(self, request: Request, campaign_id: str) -> Response:
        return self._change_campaign_status(campaign_id, "pause")

    @route(
        "POST", "/api/v1/campaigns/<campaign_id>/resume", _action_spec("Resume a paused campaign")
    )
    def resume_campaign(self, request: Request, campaign_id: str) -> Response:
        return self._change_campaign_status(campaign_id, "resume")

    @route(
        "POST",
        "/api/v1/campaigns/<campaign_id>/close",
        _action_spec("Close a campaign (pending applications are rejected)"),
    )
    def close_campaign(self, request: Request, campaign_id: str) -> Response:
        return self._change_campaign_status(campaign_id, "close")
