"""campaigns: campaigns and their lifecycle. Entrypoints only; logic in campaigns.py."""

from typing import Any

import prometheus_client
from nameko.rpc import rpc

from dependencies.caller import Caller
from dependencies.event_handlers import event_handler
from dependencies.health import HealthRpc
from dependencies.metrics import Metrics
from dependencies.outbox import OutboxRelay
from dependencies.postgres import Database
from dependencies.redis import Redis
from kernel.errors import DomainError
from kernel.events import CampaignCreated, CampaignDeleted, CampaignStatusChanged, CampaignUpdated
from services.campaigns import campaigns
from services.campaigns.cache import CampaignListCache
from services.campaigns.models import outbox

domain_rpc = rpc(expected_exceptions=DomainError)
CAMPAIGNS_CREATED = prometheus_client.Counter(
    "campaigns_created_total", "Campaigns created (counted after commit)."
)
CAMPAIGN_STATUS_CHANGES = prometheus_client.Counter(
    "campaign_status_changes_total", "Campaign lifecycle transitions, by new status.", ["status"]
)


class CampaignsService(HealthRpc):
    name = "campaigns"

    db = Database()
    caller = Caller()
    redis = Redis()
    metrics = Metrics()
    outbox_relay = OutboxRelay(outbox)

    @property
    def cache(self) -> CampaignListCache:
        return CampaignListCache(self.redis)

    @domain_rpc
    def create_campaign(self, body: Any) -> dict[str, Any]:
        campaign = campaigns.create_campaign(self.db, self.caller.principal(), body)
        self.metrics.count_on_success(CAMPAIGNS_CREATED)
        return campaign

    @domain_rpc
    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return campaigns.get_campaign(self.db, self.caller.principal(), campaign_id)

    @domain_rpc
    def update_campaign(
        self,
        campaign_id: str,
        patch: Any,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        return campaigns.update_campaign(
            self.db, self.caller.principal(), campaign_id, patch, expected_version
        )

    @domain_rpc
    def delete_campaign(self, campaign_id: str) -> None:
        campaigns.delete_campaign(self.db, self.caller.principal(), campaign_id)

    @domain_rpc
    def change_status(self, campaign_id: str, action: str) -> dict[str, Any]:
        campaign = campaigns.change_status(self.db, self.caller.principal(), campaign_id, action)
        self.metrics.count_on_success(CAMPAIGN_STATUS_CHANGES.labels(status=campaign["status"]))
        return campaign

    @domain_rpc
    def list_campaigns(self, query: Any) -> dict[str, Any]:
        return campaigns.list_campaigns(self.db, self.cache, self.caller.principal(), query)

    @domain_rpc
    def campaign_for_applications(self, campaign_id: str) -> dict[str, Any]:
        return campaigns.campaign_for_applications(self.db, campaign_id)

    # Our own events invalidate the cached lists: a list never outlives a change by more than the
    # event delay. Broadcast-free: one worker per event is enough, the cache is shared in Redis.
    @event_handler("campaigns", "campaign_created")
    def invalidate_on_created(self, payload: dict[str, Any]) -> None:
        payload = CampaignCreated.read_json(payload)
        self.cache.invalidate()

    @event_handler("campaigns", "campaign_updated")
    def invalidate_on_updated(self, payload: dict[str, Any]) -> None:
        payload = CampaignUpdated.read_json(payload)
        self.cache.invalidate()

    @event_handler("campaigns", "campaign_status_changed")
    def invalidate_on_status(self, payload: dict[str, Any]) -> None:
        payload = CampaignStatusChanged.read_json(payload)
        self.cache.invalidate()

    @event_handler("campaigns", "campaign_deleted")
    def invalidate_on_deleted(self, payload: dict[str, Any]) -> None:
        payload = CampaignDeleted.read_json(payload)
        self.cache.invalidate()
