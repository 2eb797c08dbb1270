"""Account views (id, email, role, display_name, created_at) kept in the auth process's memory.

An account's view never changes once the account exists: nothing updates those columns (a login
may rehash the password, which is not part of the view) and accounts are not deleted. So a cached
view is never stale, and GET /api/v1/me costs auth no database round trip after the first call.
Whoever adds a path that changes a viewed column or deletes an account must call `forget`.
Bounded: beyond `max_entries` the oldest entries are dropped (and read again when asked for).
"""

from collections.abc import Callable
from typing import Any

from nameko.extensions import DependencyProvider

DEFAULT_MAX_ENTRIES = 50_000


class AccountViews:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._views: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._views)

    def get(self, user_id: str, load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The cached view, or `load()` (which raises for an unknown account: nothing cached)."""
        view = self._views.get(user_id)
        if view is None:
            view = load()
            if len(self._views) >= self.max_entries:
                del self._views[next(iter(self._views))]
            self._views[user_id] = view
        return view

    def forget(self, user_id: str) -> None:
        self._views.pop(user_id, None)


class AccountViewCache(DependencyProvider):
    """One AccountViews per auth process."""

    def setup(self) -> None:
        self.views = AccountViews()

    def get_dependency(self, worker_ctx: Any) -> AccountViews:
        return self.views
