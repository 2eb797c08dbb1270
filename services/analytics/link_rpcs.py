"""The analytics service's tracking-link entrypoints (a mixin of AnalyticsService, kept apart
from the event and report entrypoints). Thin: logic in links.py, rules in clicks.py."""

import datetime as dt
import logging
from typing import Any

from nameko.rpc import rpc

from dependencies.ingest_queue import INGEST_QUEUE_NAME
from dependencies.rpc import DeadlineRpcProxy
from kernel.errors import DomainError, ServiceUnavailable
from services.analytics import keys, links

log = logging.getLogger(__name__)
domain_rpc = rpc(expected_exceptions=DomainError)
RPC_TIMEOUT_SECONDS = 10.0


class TrackingLinkRpcs:
    # Provided by AnalyticsService: db, config, caller (the relayed token), publish_events.
    db: Any
    config: Any
    caller: Any
    publish_events: Any
    applications_rpc = DeadlineRpcProxy("applications", timeout_seconds=RPC_TIMEOUT_SECONDS)

    @property
    def links_base_url(self) -> str:
        return str(self.config.get("TRACKING", {}).get("PUBLIC_BASE_URL", ""))

    # Acting for a user: the caller is the relayed access token, which the nested
    # applications.get_application call carries on (applications checks it again).

    @domain_rpc
    def create_tracking_link(self, application_id: str, body: Any) -> dict[str, Any]:
        caller = self.caller.principal()
        request = links.check_link_request(caller, body)
        application = self.applications_rpc.get_application(application_id)
        return links.create_link(self.db, caller, application, request, self.links_base_url)

    @domain_rpc
    def list_tracking_links(self, application_id: str, query: Any) -> dict[str, Any]:
        self.caller.principal()  # 401 for a missing or bad token before anything else
        application = self.applications_rpc.get_application(application_id)
        return links.list_links(self.db, application, query, self.links_base_url)

    @domain_rpc
    def disable_tracking_link(self, link_id: str) -> dict[str, Any]:
        return links.disable_link(
            self.db, self.caller.principal(), link_id, dt.datetime.now(dt.UTC), self.links_base_url
        )

    # Acting for nobody: the public redirect and the shops' postback (with its key).

    @domain_rpc
    def resolve_tracking_link(self, code: str) -> dict[str, Any]:
        """Public: the gateway's redirect asks this (and caches the answer) for a code."""
        return links.resolve_link(self.db, code)

    @domain_rpc
    def record_conversion(self, key: str, body: Any) -> dict[str, Any]:
        sender = keys.sender_for_key(self.db, key)
        answer, event = links.record_conversion(self.db, sender, body, dt.datetime.now(dt.UTC))
        if event is not None:
            try:
                self.publish_events(
                    {"events": [event]}, routing_key=INGEST_QUEUE_NAME, mandatory=True
                )
            except Exception:
                log.exception("could not queue the conversion for order %s", answer["order_id"])
                raise ServiceUnavailable("the conversion could not be queued; retry") from None
        return answer
