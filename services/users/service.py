"""users: brand and creator profiles, creator discovery. Entrypoints only; logic in profiles.py."""

from typing import Any

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from dependencies.caller import Caller
from dependencies.consumers import ProcessedEventsRetention, claim_event
from dependencies.event_handlers import event_handler
from dependencies.health import HealthRpc
from dependencies.metrics import Metrics
from dependencies.outbox import OutboxRelay
from dependencies.postgres import Database
from kernel.errors import DomainError
from kernel.events import UserRegistered
from services.users import profiles
from services.users.models import outbox, processed_events

domain_rpc = rpc(expected_exceptions=DomainError)


class UsersService(HealthRpc, ProcessedEventsRetention):
    name = "users"
    processed_events = processed_events

    config = Config()
    db = Database()
    caller = Caller()
    metrics = Metrics()
    outbox_relay = OutboxRelay(outbox)

    @domain_rpc
    def get_own_profile(self) -> dict[str, Any]:
        return profiles.get_own_profile(self.db, self.caller.principal())

    @domain_rpc
    def replace_profile(self, body: Any) -> dict[str, Any]:
        return profiles.replace_profile(self.db, self.caller.principal(), body)

    @domain_rpc
    def patch_profile(self, patch: Any) -> dict[str, Any]:
        return profiles.patch_profile(self.db, self.caller.principal(), patch)

    @domain_rpc
    def get_creator(self, creator_id: str) -> dict[str, Any]:
        return profiles.get_creator(self.db, creator_id)

    @domain_rpc
    def get_brand(self, brand_id: str) -> dict[str, Any]:
        return profiles.get_brand(self.db, brand_id)

    @domain_rpc
    def discover_creators(self, query: Any) -> dict[str, Any]:
        return profiles.discover_creators(self.db, self.caller.principal(), query)

    @domain_rpc
    def creator_summary(self, creator_id: str) -> dict[str, Any]:
        return profiles.creator_summary(self.db, creator_id)

    @event_handler("auth", "user_registered")
    def on_user_registered(self, payload: dict[str, Any]) -> None:
        payload = UserRegistered.read_json(payload)
        if claim_event(self.db, processed_events, "auth.user_registered", payload):
            profiles.ensure_profile_shell(
                self.db,
                payload["user_id"],
                payload["role"],
                payload.get("email"),
                payload.get("display_name"),
            )
