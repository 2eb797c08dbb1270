"""analytics: event ingestion into ClickHouse, campaign figures, funnel facts. Entrypoints only;
logic in ingestion.py, reports.py, directory.py, keys.py, funnel.py."""

import datetime as dt
import logging
from typing import Any

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from dependencies.caller import Caller
from dependencies.clickhouse import ClickHouse
from dependencies.event_handlers import event_handler
from dependencies.health import HealthRpc
from dependencies.ingest_queue import INGEST_QUEUE_NAME, IngestPublisher
from dependencies.metrics import Metrics
from dependencies.postgres import Database
from dependencies.redis import Redis
from dependencies.rpc import DeadlineRpcProxy
from kernel.errors import DomainError, Forbidden, ServiceUnavailable
from kernel.events import (
    ApplicationStatusChanged,
    ApplicationSubmitted,
    CampaignCreated,
    CampaignDeleted,
    CampaignStatusChanged,
    CampaignUpdated,
    DeliverableApproved,
    DeliverableChangesRequested,
    DeliverableSubmitted,
    MessageSent,
)
from services.analytics import directory, ingestion, keys, reports, warehouse
from services.analytics.directory import CampaignDirectory
from services.analytics.funnel import deliverable_fact, funnel_fact
from services.analytics.link_rpcs import TrackingLinkRpcs
from services.analytics.warehouse import INSERT_FAILURES, clickhouse_failure

log = logging.getLogger(__name__)
domain_rpc = rpc(expected_exceptions=DomainError)
RPC_TIMEOUT_SECONDS = 10.0


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AnalyticsService(TrackingLinkRpcs, HealthRpc):
    name = "analytics"

    config = Config()
    db = Database()
    redis = Redis()
    clickhouse = ClickHouse()
    metrics = Metrics()
    caller = Caller()
    publish_events = IngestPublisher()
    campaigns_rpc = DeadlineRpcProxy("campaigns", timeout_seconds=RPC_TIMEOUT_SECONDS)

    @property
    def directory(self) -> CampaignDirectory:
        return CampaignDirectory(self.db, self.campaigns_rpc.campaign_for_applications)

    @property
    def cache(self) -> reports.ReportCache:
        return reports.ReportCache.configured(self.redis, self.config)

    # Ingestion: checked here, queued durably (persistent message, publisher confirm) before the
    # caller is answered; written to ClickHouse in batches by the analytics-writer process
    # (services/analytics/writer.py).

    @domain_rpc
    def ingest(self, body: Any) -> dict[str, Any]:
        caller = self.caller.principal()
        if caller.role == "admin":
            raise Forbidden("admins send events with an ingestion key")
        kind = "brand" if caller.role == "brand" else "creator"
        sender = ingestion.Sender(kind, user_id=caller.user_id)
        return self._queue(sender, body)

    @domain_rpc
    def ingest_with_key(self, key: str, body: Any) -> dict[str, Any]:
        return self._queue(keys.sender_for_key(self.db, key), body)

    def _queue(self, sender: ingestion.Sender, body: Any) -> dict[str, Any]:
        events = ingestion.check_events(sender, body, self.directory, now())
        try:
            # Already JSON: kombu sends bytes with a content type as they are.
            self.publish_events(
                ingestion.dump_events(events),
                routing_key=INGEST_QUEUE_NAME,
                mandatory=True,
                content_type="application/json",
                content_encoding="utf-8",
            )
        except Exception:
            log.exception("could not queue %d events", len(events))
            raise ServiceUnavailable("the events could not be queued; none was accepted") from None
        return {"accepted": len(events), "event_ids": ingestion.event_ids(events)}

    # Reports

    @domain_rpc
    def summary(self, campaign_id: str, query: Any) -> dict[str, Any]:
        return self._report("summary", campaign_id, query)

    @domain_rpc
    def timeseries(self, campaign_id: str, query: Any) -> dict[str, Any]:
        return self._report("timeseries", campaign_id, query)

    @domain_rpc
    def creators(self, campaign_id: str, query: Any) -> dict[str, Any]:
        return self._report("creators", campaign_id, query)

    @domain_rpc
    def platforms(self, campaign_id: str, query: Any) -> dict[str, Any]:
        return self._report("platforms", campaign_id, query)

    def _report(self, kind: str, campaign_id: str, query: Any) -> dict[str, Any]:
        principal = self.caller.principal()
        return reports.report(
            kind, self.directory, self.clickhouse, self.cache, principal, campaign_id, query, now()
        )

    # Ingestion keys: a brand manages its own, an admin any brand's.

    @domain_rpc
    def create_ingestion_key(self, body: Any) -> dict[str, Any]:
        return keys.create_key(self.db, self.directory, self.caller.principal(), body)

    @domain_rpc
    def list_ingestion_keys(self, query: Any = None) -> dict[str, Any]:
        return keys.list_keys(self.db, self.caller.principal(), query)

    @domain_rpc
    def revoke_ingestion_key(self, key_id: str) -> None:
        keys.revoke_key(self.db, self.caller.principal(), key_id)

    # The local copy of campaigns and accepted creators, and funnel facts, from events. Copies
    # are idempotent upserts; funnel facts are collapsed by event id when read.

    @event_handler("campaigns", "campaign_created")
    def on_campaign_created(self, payload: dict[str, Any]) -> None:
        payload = CampaignCreated.read_json(payload)
        directory.store_campaign(self.db, payload)

    @event_handler("campaigns", "campaign_updated")
    def on_campaign_updated(self, payload: dict[str, Any]) -> None:
        payload = CampaignUpdated.read_json(payload)
        directory.store_campaign(self.db, payload)

    @event_handler("campaigns", "campaign_deleted")
    def on_campaign_deleted(self, payload: dict[str, Any]) -> None:
        payload = CampaignDeleted.read_json(payload)
        directory.forget_campaign(self.db, payload["campaign_id"])

    @event_handler("campaigns", "campaign_status_changed")
    def on_campaign_status_changed(self, payload: dict[str, Any]) -> None:
        payload = CampaignStatusChanged.read_json(payload)
        directory.store_campaign(self.db, payload)
        self._record_fact("campaigns", "campaign_status_changed", payload)

    @event_handler("applications", "submitted")
    def on_application_submitted(self, payload: dict[str, Any]) -> None:
        payload = ApplicationSubmitted.read_json(payload)
        self._record_fact("applications", "submitted", payload)

    @event_handler("applications", "status_changed")
    def on_application_status_changed(self, payload: dict[str, Any]) -> None:
        payload = ApplicationStatusChanged.read_json(payload)
        if payload["status"] == "accepted":
            directory.store_accepted(self.db, payload)
        self._record_fact("applications", "status_changed", payload)

    @event_handler("messaging", "message_sent")
    def on_message_sent(self, payload: dict[str, Any]) -> None:
        payload = MessageSent.read_json(payload)
        self._record_fact("messaging", "message_sent", payload)

    @event_handler("applications", "deliverable_submitted")
    def on_deliverable_submitted(self, payload: dict[str, Any]) -> None:
        payload = DeliverableSubmitted.read_json(payload)
        self._record_deliverable("deliverable_submitted", payload)

    @event_handler("applications", "deliverable_approved")
    def on_deliverable_approved(self, payload: dict[str, Any]) -> None:
        payload = DeliverableApproved.read_json(payload)
        self._record_deliverable("deliverable_approved", payload)

    @event_handler("applications", "deliverable_changes_requested")
    def on_deliverable_changes_requested(self, payload: dict[str, Any]) -> None:
        payload = DeliverableChangesRequested.read_json(payload)
        self._record_deliverable("deliverable_changes_requested", payload)

    def _record_deliverable(self, event_type: str, payload: dict[str, Any]) -> None:
        fact = deliverable_fact(event_type, payload)
        if fact is not None:
            self._insert_fact(warehouse.insert_deliverable_event, fact)

    def _record_fact(self, source: str, event_type: str, payload: dict[str, Any]) -> None:
        fact = funnel_fact(source, event_type, payload)
        if fact is not None:
            self._insert_fact(warehouse.insert_funnel_event, fact)

    def _insert_fact(self, insert: Any, fact: dict[str, Any]) -> None:
        # A ClickHouse outage is retried by the handler (dependencies/event_handlers.py).
        try:
            insert(self.clickhouse, fact)
        except Exception as exc:
            if clickhouse_failure(exc):
                INSERT_FAILURES.labels(insert.__name__.removeprefix("insert_")).inc()
            raise
        self.cache.invalidate([str(fact["campaign_id"])])
