"""auth: accounts, credentials, JWT sessions. Entrypoints only; the logic is in accounts.py."""

from typing import Any

import prometheus_client
from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from dependencies.caller import Caller
from dependencies.health import HealthRpc
from dependencies.metrics import Metrics
from dependencies.outbox import OutboxRelay
from dependencies.postgres import Database
from dependencies.redis import Redis
from dependencies.tokens import AccessTokens
from kernel.denylist import AccessDenylist
from kernel.errors import DomainError
from kernel.ratelimit import AttemptLimiter
from kernel.schemas import parse_model
from services.auth import accounts
from services.auth.account_cache import AccountViewCache
from services.auth.models import outbox
from services.auth.schemas import LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest

domain_rpc = rpc(expected_exceptions=DomainError)
USERS_REGISTERED = prometheus_client.Counter(
    "users_registered_total", "Accounts created (counted after commit).", ["role"]
)
DENYLIST_RESYNC_SECONDS = 15


class AuthService(HealthRpc):
    name = "auth"

    config = Config()
    db = Database()
    redis = Redis()
    tokens = AccessTokens(signing=True)
    caller = Caller()
    metrics = Metrics()
    outbox_relay = OutboxRelay(outbox)
    account_views = AccountViewCache()

    @property
    def settings(self) -> accounts.AuthSettings:
        return accounts.AuthSettings.from_config(self.config)

    @property
    def limits(self) -> AttemptLimiter:
        return AttemptLimiter(self.redis, namespace="auth")

    @property
    def denylist(self) -> AccessDenylist:
        return AccessDenylist(self.redis)

    @domain_rpc
    def register(self, request: dict[str, Any], client_ip: str = "") -> dict[str, Any]:
        body = parse_model(RegisterRequest, request)
        account = accounts.register(self.db, self.limits, self.settings, body, client_ip)
        self.metrics.count_on_success(USERS_REGISTERED.labels(role=account["role"]))
        return account

    @domain_rpc
    def login(self, request: dict[str, Any], client_ip: str) -> dict[str, Any]:
        body = parse_model(LoginRequest, request)
        return accounts.login(self.db, self.tokens, self.limits, self.settings, body, client_ip)

    @domain_rpc
    def refresh(self, request: dict[str, Any]) -> dict[str, Any]:
        body = parse_model(RefreshRequest, request)
        return accounts.refresh(
            self.db, self.tokens, self.denylist, self.settings, body.refresh_token
        )

    @domain_rpc
    def logout(self, request: dict[str, Any] | None = None) -> None:
        """Ends the session of the access token relayed with the call."""
        body = parse_model(LogoutRequest, request or {})
        accounts.logout(
            self.db, self.tokens, self.denylist, self.caller.claims(), body.refresh_token
        )

    @domain_rpc
    def verify(self, access_token: str) -> dict[str, Any]:
        return accounts.verify(self.tokens, self.denylist, access_token)

    @domain_rpc
    def get_own_account(self) -> dict[str, Any]:
        user_id = self.caller.principal().user_id
        return self.account_views.get(user_id, lambda: accounts.get_account(self.db, user_id))

    # Admins are created by the operator command `python -m services.auth.admin`, never by RPC:
    # anyone on the bus could call an RPC.

    @timer(interval=DENYLIST_RESYNC_SECONDS)
    def resync_denylist(self) -> None:
        accounts.resync_denylist(self.db, self.denylist, self.tokens)
