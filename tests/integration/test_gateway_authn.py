"""Bearer authentication and the role helper against real Redis (denylist and rate limit)."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway_http.authn import RequestAuthenticator
from gateway_http.edge import RATE_LIMIT
from services.common.denylist import AccessDenylist
from services.common.errors import Forbidden, TooManyRequests, Unauthenticated
from services.common.ratelimit import RateLimiter
from services.common.tokens import TokenCodec
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration
KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def codec():
    return TokenCodec(
        issuer="iss",
        audience="aud",
        key_id="k",
        access_ttl_seconds=600,
        leeway_seconds=0,
        public_key=KEY.public_key(),
        private_key=KEY,
    )


@pytest.fixture
def authenticator(codec, redis_client):
    limiter = RateLimiter(TEST_REDIS_URL, namespace="gateway-test")
    return RequestAuthenticator(codec, AccessDenylist(redis_client), limiter, "3/minute")


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


def test_an_authenticated_token_is_relayed_with_the_workers_rpc_calls(codec, redis_client):
    """The worker's context data (sent as nameko.* headers on every RPC) gets the token only
    once it verified."""
    context: dict = {"request_id": "r-1"}
    limiter = RateLimiter(TEST_REDIS_URL, namespace="gateway-test")
    relaying = RequestAuthenticator(
        codec, AccessDenylist(redis_client), limiter, "9/minute", context
    )
    with pytest.raises(Unauthenticated):
        relaying.authenticate(request_with("not-a-token"))
    assert "auth_token" not in context
    token, _ = codec.issue_access_token(subject="u1", role="brand", session_id="s1")
    relaying.authenticate(request_with(token))
    assert context == {"request_id": "r-1", "auth_token": token}
