"""The caller's token is verified by the service itself, and never leaves with events."""

from types import SimpleNamespace

import pytest
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY

from dependencies.caller import (
    CallerIdentity,
    TokenlessEventDispatcher,
    TokenlessPublisher,
    without_auth_token,
)
from kernel.errors import Unauthenticated


def test_events_and_queued_messages_do_not_carry_the_callers_token():
    worker_ctx = SimpleNamespace(
        context_data={AUTH_TOKEN_CONTEXT_KEY: "secret", "request_id": "r-1", "call_id_stack": ["a"]}
    )
    for extension in (TokenlessEventDispatcher(), TokenlessPublisher()):
        headers = extension.get_message_headers(worker_ctx)
        assert headers == {"nameko.request_id": "r-1", "nameko.call_id_stack": ["a"]}
    assert without_auth_token({"nameko.auth_token": "x", "other": 1}) == {"other": 1}


class CountingCodec:
    def __init__(self):
        self.decoded = 0

    def decode_access_token(self, token):
        self.decoded += 1
        return SimpleNamespace(
            subject="u-1", role="brand", token_id="j", session_id="s", expires_at=0
        )


class NoDenials:
    def is_denied(self, token_id, session_id):
        return False


def test_verification_is_lazy_and_once_per_worker():
    codec = CountingCodec()
    caller = CallerIdentity(SimpleNamespace(data={AUTH_TOKEN_CONTEXT_KEY: "t"}), codec, NoDenials())
    assert codec.decoded == 0
    assert caller.principal().user_id == "u-1"
    assert caller.principal().role == "brand"
    assert codec.decoded == 1


def test_a_call_without_a_token_is_unauthenticated():
    caller = CallerIdentity(SimpleNamespace(data={}), CountingCodec(), NoDenials())
    with pytest.raises(Unauthenticated):
        caller.principal()


class TokenPerSubject:
    """A codec whose tokens are the subjects' names; "bad" is refused like a forged token."""

    def decode_access_token(self, token):
        if token == "bad":
            raise Unauthenticated("invalid access token: signature")
        return SimpleNamespace(
            subject=token, role="creator", token_id=f"j-{token}", session_id=f"s-{token}"
        )


class RecordingDenylist:
    def __init__(self, revoked):
        self.revoked = revoked
        self.reads = []

    def denied_among(self, pairs):
        pairs = list(pairs)
        self.reads.append(pairs)
        return {pair for pair in pairs if pair in self.revoked}


def test_a_batch_of_tokens_is_checked_each_alone_with_one_denylist_read():
    denylist = RecordingDenylist(revoked={("j-eve", "s-eve")})
    caller = CallerIdentity(SimpleNamespace(data={}), TokenPerSubject(), denylist)
    answers = caller.principals_of(["ann", "bad", None, "eve", "ann"])
    assert [getattr(answer, "user_id", None) for answer in answers] == [
        "ann",
        None,
        None,
        None,
        "ann",
    ]
    refused = [str(answer) for answer in answers if isinstance(answer, Unauthenticated)]
    assert refused == [
        "invalid access token: signature",
        "this call acts for a user and needs the user's access token",
        "access token has been revoked",
    ]
    assert denylist.reads == [[("j-ann", "s-ann"), ("j-eve", "s-eve"), ("j-ann", "s-ann")]]
