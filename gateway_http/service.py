"""gateway_http: the public REST API (base /api/v1). One Nameko service assembled from route
groups (gateway_http/routes/*), each owning one resource. Each route's RouteSpec has the caller
authenticated, the role checked and the body validated before its handler runs
(gateway_http/specs.py); handlers call RPC and shape the answer; no business logic lives here."""

from nameko.dependency_providers import Config

from dependencies.redis import Redis
from dependencies.rpc import DeadlineRpcProxy
from gateway_http.campaign_lists import CampaignListReader
from gateway_http.routes.analytics import AnalyticsRoutes
from gateway_http.routes.applications import ApplicationRoutes
from gateway_http.routes.auth import AuthRoutes
from gateway_http.routes.campaigns import CampaignRoutes
from gateway_http.routes.conversations import ConversationRoutes
from gateway_http.routes.deliverables import DeliverableRoutes
from gateway_http.routes.docs import DocsRoutes
from gateway_http.routes.ops import OpsRoutes
from gateway_http.routes.profiles import ProfileRoutes
from gateway_http.routes.tracking import TrackingRoutes


class GatewayService(
    OpsRoutes,
    DocsRoutes,
    AuthRoutes,
    ProfileRoutes,
    CampaignRoutes,
    ApplicationRoutes,
    DeliverableRoutes,
    AnalyticsRoutes,
    ConversationRoutes,
    TrackingRoutes,
):
    name = "gateway_http"

    config = Config()
    redis = Redis()
    campaign_lists = CampaignListReader()
    auth_rpc = DeadlineRpcProxy("auth")
    users_rpc = DeadlineRpcProxy("users")
    campaigns_rpc = DeadlineRpcProxy("campaigns")
    applications_rpc = DeadlineRpcProxy("applications")
    analytics_rpc = DeadlineRpcProxy("analytics")
    messaging_rpc = DeadlineRpcProxy("messaging")
