"""The access-token denylist on the real Redis: one pair at a time, or many in one read."""

import pytest

from kernel.denylist import AccessDenylist

pytestmark = pytest.mark.integration


def test_many_pairs_are_read_at_once_by_token_and_by_session(redis_client):
    denylist = AccessDenylist(redis_client)
    denylist.deny_token("jti-2", 60)
    denylist.deny_session("sid-3", 60)
    pairs = [("jti-1", "sid-1"), ("jti-2", "sid-2"), ("jti-3", "sid-3"), ("jti-1", "sid-1")]
    assert denylist.denied_among(pairs) == {("jti-2", "sid-2"), ("jti-3", "sid-3")}
    assert [denylist.is_denied(*pair) for pair in pairs] == [False, True, True, False]
    assert denylist.denied_among([]) == set()
