"""The verified-token cache: one signature check per token, expiry checked on every use, bounded,
and never a hit for bytes other than those verified."""

import pytest

from kernel.errors import Unauthenticated
from kernel.token_cache import VerifiedTokenCache
from kernel.tokens import TokenCodec
from tests.codecs import make_codec


class CountingCodec(TokenCodec):
    verified = 0

    def decode_access_token(self, token):
        self.verified += 1
        return super().decode_access_token(token)


@pytest.fixture
def codec():
    return make_codec(CountingCodec, leeway_seconds=30)


def test_a_token_is_verified_once(codec):
    cache = VerifiedTokenCache(codec)
    token, claims = codec.issue_access_token(subject="u1", role="brand", session_id="s1")
    assert cache.decode_access_token(token) == claims
    assert cache.decode_access_token(token) == claims
    assert codec.verified == 1


def test_expiry_is_checked_on_every_hit(codec):
    token, claims = codec.issue_access_token(subject="u1", role="brand", session_id="s1")
    now = [float(claims.expires_at - 60)]
    cache = VerifiedTokenCache(codec, clock=lambda: now[0])
    assert cache.decode_access_token(token) == claims
    now[0] = claims.expires_at + 29  # past exp, within the leeway
    assert cache.decode_access_token(token) == claims
    now[0] = claims.expires_at + 30
    with pytest.raises(Unauthenticated, match="expired"):
        cache.decode_access_token(token)
    assert len(cache) == 0
    assert codec.verified == 1


def test_an_altered_token_is_verified_and_refused(codec):
    cache = VerifiedTokenCache(codec)
    token, _ = codec.issue_access_token(subject="u1", role="brand", session_id="s1")
    cache.decode_access_token(token)
    with pytest.raises(Unauthenticated):
        cache.decode_access_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert len(cache) == 1


def test_the_cache_is_bounded(codec):
    cache = VerifiedTokenCache(codec, max_entries=3)
    tokens = [
        codec.issue_access_token(subject=f"u{n}", role="brand", session_id="s")[0] for n in range(5)
    ]
    for token in tokens:
        cache.decode_access_token(token)
    assert len(cache) == 3
    cache.decode_access_token(tokens[0])  # evicted: verified again
    assert codec.verified == 6


def test_hits_and_misses_are_counted(codec):
    from prometheus_client import REGISTRY

    def count(result):
        return REGISTRY.get_sample_value("token_cache_lookups_total", {"result": result}) or 0

    hits, misses = count("hit"), count("miss")
    cache = VerifiedTokenCache(codec)
    token, _ = codec.issue_access_token(subject="u1", role="brand", session_id="s1")
    cache.decode_access_token(token)
    cache.decode_access_token(token)
    cache.decode_access_token(token)
    assert (count("hit") - hits, count("miss") - misses) == (2, 1)
