"""Account views cached by auth: read once, errors not cached, bounded."""

import pytest

from kernel.errors import NotFound
from services.auth.account_cache import AccountViews


def test_a_view_is_loaded_once():
    views, loads = AccountViews(), []

    def load():
        loads.append(1)
        return {"id": "u1"}

    assert views.get("u1", load) == {"id": "u1"}
    assert views.get("u1", load) == {"id": "u1"}
    assert len(loads) == 1


def test_an_unknown_account_is_not_cached():
    views = AccountViews()

    def missing():
        raise NotFound("account not found")

    with pytest.raises(NotFound):
        views.get("u1", missing)
    assert len(views) == 0
    assert views.get("u1", lambda: {"id": "u1"}) == {"id": "u1"}


def test_bounded_and_forgettable():
    views = AccountViews(max_entries=2)
    for n in range(3):
        views.get(f"u{n}", lambda n=n: {"id": f"u{n}"})
    assert len(views) == 2
    views.forget("u2")
    assert views.get("u2", lambda: {"id": "fresh"}) == {"id": "fresh"}
