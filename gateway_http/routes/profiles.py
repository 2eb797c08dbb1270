"""/api/v1/me/profile, /api/v1/creators (discovery), /api/v1/creators/{id}, /api/v1/brands/{id}."""

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway_http.bodies import json_response
from gateway_http.caller import query_params
from gateway_http.edge import RouteSpec, route
from services.users.schemas import (
    BrandProfile,
    BrandProfileBody,
    BrandProfilePatch,
    CreatorPage,
    CreatorProfile,
    CreatorProfileBody,
    CreatorProfilePatch,
    CreatorQuery,
    OwnProfile,
    ProfileBody,
    ProfilePatch,
)

NO_PROFILE = "admin accounts have no profile"


class ProfileRoutes:
    users_rpc: Any

    @route(
        "GET",
        "/api/v1/me/profile",
        RouteSpec(
            "The caller's own profile", "profiles", responses={200: OwnProfile, 404: NO_PROFILE}
        ),
    )
    def get_own_profile(self, request: Request) -> Response:
        return json_response(self.users_rpc.get_own_profile())

    @route(
        "PUT",
        "/api/v1/me/profile",
        RouteSpec(
            "Replace the caller's profile (brand or creator fields by role)",
            "profiles",
            body=ProfileBody,
            body_by_role={"brand": BrandProfileBody, "creator": CreatorProfileBody},
            responses={200: OwnProfile, 404: NO_PROFILE},
            rules=(
                "the body is the profile of your role (a brand's or a creator's)",
                "portfolio_url, website, logo_url: absolute http(s) URLs",
            ),
        ),
    )
    def replace_own_profile(self, request: Request, body: Any) -> Response:
        return json_response(self.users_rpc.replace_profile(body))

    @route(
        "PATCH",
        "/api/v1/me/profile",
        RouteSpec(
            "Change some fields of the caller's profile",
            "profiles",
            body=ProfilePatch,
            body_by_role={"brand": BrandProfilePatch, "creator": CreatorProfilePatch},
            responses={200: OwnProfile, 404: NO_PROFILE},
            rules=(
                "the fields are those of your role's profile, and the profile they make is "
                "valid (a required field cannot be reset)",
                "portfolio_url, website, logo_url: absolute http(s) URLs",
            ),
        ),
    )
    def patch_own_profile(self, request: Request, body: Any) -> Response:
        return json_response(self.users_rpc.patch_profile(body))

    @route(
        "GET",
        "/api/v1/creators",
        RouteSpec(
            "Discover creators (brands and admins)",
            "profiles",
            query_model=CreatorQuery,
            responses={200: CreatorPage},
            roles=("brand", "admin"),
            rules=("min_followers <= max_followers",),
        ),
    )
    def discover_creators(self, request: Request) -> Response:
        return json_response(self.users_rpc.discover_creators(query_params(request)))

    @route(
        "GET",
        "/api/v1/creators/<creator_id>",
        RouteSpec(
            "A creator's public profile",
            "profiles",
            responses={200: CreatorProfile, 404: "no such creator"},
        ),
    )
    def get_creator(self, request: Request, creator_id: str) -> Response:
        return json_response(self.users_rpc.get_creator(creator_id))

    @route(
        "GET",
        "/api/v1/brands/<brand_id>",
        RouteSpec(
            "A brand's public profile",
            "profiles",
            responses={200: BrandProfile, 404: "no such brand"},
        ),
    )
    def get_brand(self, request: Request, brand_id: str) -> Response:
        return json_response(self.users_rpc.get_brand(brand_id))
