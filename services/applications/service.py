"""applications: creators apply, brands decide. Entrypoints only; logic in applications.py."""

from typing import Any

import prometheus_client
from nameko.dependency_providers import Config
from nameko.rpc import rpc

from dependencies.caller import Caller
from dependencies.consumers import ProcessedEventsRetention, claim_event
from dependencies.event_handlers import event_handler
from dependencies.health import HealthRpc
from dependencies.metrics import Metrics
from dependencies.outbox import OutboxRelay
from dependencies.postgres import Database
from dependencies.rpc import DeadlineRpcProxy
from kernel.errors import DomainError, NotFound
from kernel.events import CampaignCreated, CampaignDeleted, CampaignStatusChanged, CampaignUpdated
from services.applications import applications, campaign_copy, deliverables
from services.applications.models import outbox, processed_events

domain_rpc = rpc(expected_exceptions=DomainError)
RPC_TIMEOUT_SECONDS = 10.0
APPLICATIONS_SUBMITTED = prometheus_client.Counter(
    "applications_submitted_total", "Applications submitted (counted after commit)."
)
DELIVERABLE_CHANGES = prometheus_client.Counter(
    "deliverable_status_changes_total",
    "Deliverable submissions and reviews (counted after commit), by new status.",
    ["status"],
)
APPLICATION_STATUS_CHANGES = prometheus_client.Counter(
    "application_status_changes_total",
    "Application decisions and withdrawals, by new status.",
    ["status"],
)


class ApplicationsService(HealthRpc, ProcessedEventsRetention):
    name = "applications"
    processed_events = processed_events

    config = Config()
    db = Database()
    caller = Caller()
    metrics = Metrics()
    outbox_relay = OutboxRelay(outbox)
    campaigns_rpc = DeadlineRpcProxy("campaigns", timeout_seconds=RPC_TIMEOUT_SECONDS)
    users_rpc = DeadlineRpcProxy("users", timeout_seconds=RPC_TIMEOUT_SECONDS)

    @domain_rpc
    def submit(self, campaign_id: str, body: Any) -> dict[str, Any]:
        caller = self.caller.principal()
        request = applications.check_submission(caller, body)  # before any RPC
        campaign = self.campaigns_rpc.get_campaign(campaign_id)  # relays the caller's token
        creator = self.users_rpc.creator_summary(caller.user_id)
        application = applications.submit(self.db, caller, campaign_id, request, campaign, creator)
        self.metrics.count_on_success(APPLICATIONS_SUBMITTED)
        return application

    @domain_rpc
    def get_application(self, application_id: str) -> dict[str, Any]:
        return applications.get_application(self.db, self.caller.principal(), application_id)

    @domain_rpc
    def change_status(self, application_id: str, action: str) -> dict[str, Any]:
        application = applications.change_status(
            self.db, self.caller.principal(), application_id, action
        )
        self.metrics.count_on_success(
            APPLICATION_STATUS_CHANGES.labels(status=application["status"])
        )
        return application

    @domain_rpc
    def list_for_campaign(self, campaign_id: str, query: Any) -> dict[str, Any]:
        caller = self.caller.principal()
        campaign = self.campaigns_rpc.get_campaign(campaign_id)  # 404 if invisible
        return applications.list_for_campaign(
            self.db, caller, campaign_id, query, campaign["brand_id"]
        )

    @domain_rpc
    def list_own(self, query: Any) -> dict[str, Any]:
        return applications.list_own(self.db, self.caller.principal(), query)

    # Deliverables of accepted applications (logic in deliverables.py)

    @domain_rpc
    def submit_deliverable(self, application_id: str, body: Any) -> dict[str, Any]:
        return self._counted(
            deliverables.submit(
                self.db,
                self.caller.principal(),
                application_id,
                body,
                self.campaigns_rpc.campaign_for_applications,
            )
        )

    @domain_rpc
    def resubmit_deliverable(self, deliverable_id: str, body: Any) -> dict[str, Any]:
        return self._counted(
            deliverables.resubmit(self.db, self.caller.principal(), deliverable_id, body)
        )

    @domain_rpc
    def review_deliverable(
        self, deliverable_id: str, action: str, body: Any = None
    ) -> dict[str, Any]:
        """action: approve | request_changes (body {note})."""
        if action not in deliverables.REVIEWS:
            raise NotFound(f"no such action {action}")
        return self._counted(
            deliverables.review(self.db, self.caller.principal(), deliverable_id, action, body)
        )

    def _counted(self, deliverable: dict[str, Any]) -> dict[str, Any]:
        self.metrics.count_on_success(DELIVERABLE_CHANGES.labels(status=deliverable["status"]))
        return deliverable

    @domain_rpc
    def get_deliverable(self, deliverable_id: str) -> dict[str, Any]:
        return deliverables.get_deliverable(self.db, self.caller.principal(), deliverable_id)

    @domain_rpc
    def list_application_deliverables(self, application_id: str, query: Any) -> dict[str, Any]:
        return deliverables.list_for_application(
            self.db, self.caller.principal(), application_id, query
        )

    @domain_rpc
    def list_campaign_deliverables(self, campaign_id: str, query: Any) -> dict[str, Any]:
        return deliverables.list_for_campaign(self.db, self.caller.principal(), campaign_id, query)

    @domain_rpc
    def campaign_deliverables_progress(self, campaign_id: str) -> dict[str, Any]:
        """The campaign's deliverables over its accepted applications (its brand, admins)."""
        return deliverables.campaign_progress(self.db, self.caller.principal(), campaign_id)

    @event_handler("campaigns", "campaign_created")
    def on_campaign_created(self, payload: dict[str, Any]) -> None:
        payload = CampaignCreated.read_json(payload)
        if claim_event(self.db, processed_events, "campaigns.campaign_created", payload):
            applications.store_campaign_snapshot(self.db, payload)

    @event_handler("campaigns", "campaign_deleted")
    def on_campaign_deleted(self, payload: dict[str, Any]) -> None:
        payload = CampaignDeleted.read_json(payload)
        if claim_event(self.db, processed_events, "campaigns.campaign_deleted", payload):
            campaign_copy.forget_campaign(self.db, payload["campaign_id"])

    @event_handler("campaigns", "campaign_updated")
    def on_campaign_updated(self, payload: dict[str, Any]) -> None:
        payload = CampaignUpdated.read_json(payload)
        if claim_event(self.db, processed_events, "campaigns.campaign_updated", payload):
            applications.store_campaign_snapshot(self.db, payload)

    @event_handler("campaigns", "campaign_status_changed")
    def on_campaign_status_changed(self, payload: dict[str, Any]) -> None:
        payload = CampaignStatusChanged.read_json(payload)
        if claim_event(self.db, processed_events, "campaigns.campaign_status_changed", payload):
            applications.store_campaign_snapshot(self.db, payload)
            if payload["status"] == "closed":
                rejected = applications.reject_pending_on_close(self.db, payload["campaign_id"])
                self.metrics.count_on_success(
                    APPLICATION_STATUS_CHANGES.labels(status="rejected"), rejected
                )
