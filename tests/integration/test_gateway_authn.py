"""Bearer authentication and the role helper against real Redis (denylist and rate limit)."""

import eventlet
import pytest
import redis
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway_http.admission import Gatekeeper
from gateway_http.authn import RequestAuthenticator
from gateway_http.edge import RATE_LIMIT
from kernel.denylist import AccessDenylist
from kernel.errors import Forbidden, TooManyRequests, Unauthenticated
from kernel.ratelimit import RateLimiter
from kernel.token_cache import VerifiedTokenCache
from services.campaigns.cache import GENERATION_KEY
from tests.codecs import make_codec
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def codec():
    return make_codec()


@pytest.fixture
def authenticator(codec, redis_client):
    tokens = VerifiedTokenCache(codec)
    return RequestAuthenticator(Gatekeeper(redis_client, tokens, "gateway-test", "3/minute"))


def request_with(token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Request(EnvironBuilder(path="/api/v1/me", headers=headers).get_environ())


def test_require_checks_the_role(codec, authenticator):
    token, _ = codec.issue_access_token(subject="u1", role="creator", session_id="s1")
    assert authenticator.require(request_with(token), "creator").user_id == "u1"
    with pytest.raises(Forbidden):
        authenticator.require(request_with(token), "brand")
    assert authenticator.require(request_with(token)).role == "creator"  # any signed-in role


def test_missing_or_malformed_authorization(authenticator):
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(request_with())
    request = Request(EnvironBuilder(headers={"Authorization": "Basic abc"}).get_environ())
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(request)


def test_denied_session_is_refused(codec, authenticator, redis_client):
    token, claims = codec.issue_access_token(subject="u1", role="brand", session_id="s-dead")
    AccessDenylist(redis_client).deny_session(claims.session_id, 60)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticator.authenticate(request_with(token))


def test_per_subject_rate_limit_is_shared_across_tokens(codec, authenticator):
    first, _ = codec.issue_access_token(subject="busy", role="brand", session_id="s1")
    second, _ = codec.issue_access_token(subject="busy", role="brand", session_id="s2")
    for token in (first, second, first):
        request = request_with(token)
        authenticator.authenticate(request)
        assert request.environ[RATE_LIMIT].allowed
    with pytest.raises(TooManyRequests) as refused:
        authenticator.authenticate(request_with(second))
    assert refused.value.retry_after >= 1


def test_revocation_is_seen_after_the_token_was_verified_and_cached(
    codec, authenticator, redis_client
):
    token, claims = codec.issue_access_token(subject="u2", role="brand", session_id="s-live")
    assert authenticator.authenticate(request_with(token)).user_id == "u2"  # verified, cached
    AccessDenylist(redis_client).deny_token(claims.token_id, 60)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticator.authenticate(request_with(token))


def redis_commands(redis_client, monkeypatch) -> list[str]:
    """The names of the commands `redis_client`'s class sends from now on, in order."""
    commands: list[str] = []
    original = type(redis_client).execute_command

    def counting(self, *args, **options):
        commands.append(args[0])
        return original(self, *args, **options)

    monkeypatch.setattr(type(redis_client), "execute_command", counting)
    return commands


def test_admission_is_one_redis_round_trip(codec, redis_client, monkeypatch):
    """IP limit, denylist and subject limit together: one command per request (was five)."""
    gatekeeper = Gatekeeper(
        redis_client, VerifiedTokenCache(codec), "gateway-test", "50/minute", "50/minute"
    )
    token, _ = codec.issue_access_token(subject="u3", role="brand", session_id="s3")
    gatekeeper.admit(token, "ip:10.0.0.1")  # loads the script
    commands = redis_commands(redis_client, monkeypatch)
    admission = gatekeeper.admit(token, "ip:10.0.0.1")
    assert commands == ["EVALSHA"]
    assert admission.ip.allowed and admission.subject.allowed and admission.error is None
    assert (admission.ip.remaining, admission.subject.remaining) == (48, 48)


def test_admission_shares_windows_with_the_rate_limiter(codec, redis_client):
    """Same keys and arithmetic as kernel.ratelimit: counts and headers agree, and a
    window filled by RateLimiter refuses the gatekeeper's next request (and the reverse)."""
    limiter = RateLimiter(TEST_REDIS_URL, namespace="gateway-test")
    gatekeeper = Gatekeeper(
        redis_client, VerifiedTokenCache(codec), "gateway-test", "5/minute", "4/minute"
    )
    token, _ = codec.issue_access_token(subject="u4", role="brand", session_id="s4")
    first = gatekeeper.admit(token, "ip:10.0.0.2")
    assert first.ip == limiter.peek("4/minute", "ip:10.0.0.2")
    assert first.subject == limiter.peek("5/minute", "sub:u4")
    for _ in range(3):
        limiter.hit("4/minute", "ip:10.0.0.2")
    refused = gatekeeper.admit(token, "ip:10.0.0.2")
    assert not refused.ip.allowed and refused.ip.remaining == 0
    assert refused.subject is None  # a request refused by its address never counts for its subject
    assert limiter.peek("5/minute", "sub:u4").remaining == 4
    for _ in range(4):
        gatekeeper.admit(token)
    assert not limiter.peek("5/minute", "sub:u4").allowed


def test_a_bad_token_still_counts_against_the_address(redis_client, codec):
    gatekeeper = Gatekeeper(
        redis_client, VerifiedTokenCache(codec), "gateway-test", "5/minute", "2/minute"
    )
    for _ in range(2):
        admission = gatekeeper.admit("not-a-token", "ip:10.0.0.3")
        assert isinstance(admission.error, Unauthenticated) and admission.ip.allowed
    assert not gatekeeper.admit("not-a-token", "ip:10.0.0.3").ip.allowed


def test_an_authenticated_token_is_relayed_with_the_workers_rpc_calls(codec, redis_client):
    """The worker's context data (sent as nameko.* headers on every RPC) gets the token only
    once it verified."""
    context: dict = {"request_id": "r-1"}
    gatekeeper = Gatekeeper(redis_client, VerifiedTokenCache(codec), "gateway-test", "9/minute")
    relaying = RequestAuthenticator(gatekeeper, context)
    with pytest.raises(Unauthenticated):
        relaying.authenticate(request_with("not-a-token"))
    assert "auth_token" not in context
    token, _ = codec.issue_access_token(subject="u1", role="brand", session_id="s1")
    relaying.authenticate(request_with(token))
    assert context == {"request_id": "r-1", "auth_token": token}


def admit_at_once(gatekeeper, calls):
    """Run gatekeeper.admit(*call) for every call in its own greenthread, all waiting at once."""
    pool = eventlet.GreenPool()
    return list(pool.imap(lambda call: gatekeeper.admit(*call), calls))


def test_requests_waiting_at_once_share_one_script_call_and_the_limits_stay_exact(
    codec, redis_client, monkeypatch
):
    """Eight requests from one address against a limit of five: one EVALSHA for them all (not
    one each), exactly five admitted, each with its own count, and the subject counted five times
    (a request refused by its address never counts for its subject)."""
    limiter = RateLimiter(TEST_REDIS_URL, namespace="gateway-test")
    gatekeeper = Gatekeeper(
        redis_client,
        VerifiedTokenCache(codec),
        "gateway-test",
        "100/minute",
        "5/minute",
        watched=(GENERATION_KEY,),
    )
    redis_client.set(GENERATION_KEY, "7")
    token, _ = codec.issue_access_token(subject="u9", role="brand", session_id="s9")
    gatekeeper.admit(None)  # loads the script
    commands = redis_commands(redis_client, monkeypatch)
    admissions = admit_at_once(gatekeeper, [(token, "ip:10.0.0.9")] * 8)
    assert commands == ["EVALSHA"]
    assert [admission.ip.allowed for admission in admissions].count(True) == 5
    assert sorted(admission.ip.remaining for admission in admissions) == [0, 0, 0, 0, 1, 2, 3, 4]
    assert all(admission.watched == {GENERATION_KEY: "7"} for admission in admissions)
    assert limiter.peek("100/minute", "sub:u9").remaining == 95
    assert not limiter.peek("5/minute", "ip:10.0.0.9").allowed


def test_a_refusal_in_a_batch_ends_only_its_own_request(codec, redis_client):
    """In one script call: a request refused by its address, one with a revoked token and one
    that passes; each is decided as if it had been sent alone."""
    limiter = RateLimiter(TEST_REDIS_URL, namespace="gateway-test")
    gatekeeper = Gatekeeper(
        redis_client, VerifiedTokenCache(codec), "gateway-test", "10/minute", "2/minute"
    )
    good, _ = codec.issue_access_token(subject="u10", role="brand", session_id="s10")
    revoked, claims = codec.issue_access_token(subject="u11", role="brand", session_id="s11")
    AccessDenylist(redis_client).deny_token(claims.token_id, 60)
    for _ in range(2):
        limiter.hit("2/minute", "ip:10.0.0.10")
    full, denied, passed = admit_at_once(
        gatekeeper,
        [(good, "ip:10.0.0.10"), (revoked, "ip:10.0.0.11"), (good, "ip:10.0.0.11")],
    )
    assert not full.ip.allowed and full.subject is None and full.error is None
    assert denied.ip.allowed and denied.subject is None
    assert isinstance(denied.error, Unauthenticated)
    assert passed.ip.allowed and passed.subject.allowed and passed.error is None
    assert passed.ip.remaining == 0  # the revoked request counted against the address first
    assert limiter.peek("10/minute", "sub:u10").remaining == 9
    assert limiter.peek("10/minute", "sub:u11").remaining == 10


def test_a_failed_script_call_fails_every_request_of_its_batch(codec, monkeypatch, redis_client):
    gatekeeper = Gatekeeper(
        redis_client, VerifiedTokenCache(codec), "gateway-test", "10/minute", "10/minute"
    )
    gatekeeper.admit(None, "ip:10.0.0.12")

    def unreachable(self, *args, **options):
        raise redis.ConnectionError("Redis is gone")

    monkeypatch.setattr(type(redis_client), "execute_command", unreachable)
    pool = eventlet.GreenPool()
    outcomes = []

    def admit():
        try:
            gatekeeper.admit(None, "ip:10.0.0.12")
        except redis.ConnectionError as exc:
            outcomes.append(str(exc))

    for _ in range(3):
        pool.spawn(admit)
    pool.waitall()
    assert outcomes == ["Redis is gone"] * 3
    monkeypatch.undo()
    assert gatekeeper.admit(None, "ip:10.0.0.12").ip.allowed  # the next batch is sent as usual
