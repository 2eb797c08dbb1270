import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.errors import Unauthenticated
from services.common.tokens import TokenCodec

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def make_codec(**overrides) -> TokenCodec:
    settings = dict(
        issuer="https://issuer.test",
        audience="api.test",
        key_id="k1",
        access_ttl_seconds=900,
        leeway_seconds=0,
        public_key=KEY.public_key(),
        private_key=KEY,
    )
    settings.update(overrides)
    return TokenCodec(**settings)


def claims(**overrides) -> dict:
    now = int(time.time())
    payload = {
        "iss": "https://issuer.test",
        "aud": "api.test",
        "sub": "user-1",
        "role": "brand",
        "sid": "session-1",
        "jti": "token-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    payload.update(overrides)
    return payload


def test_issued_token_round_trips():
    codec = make_codec()
    token, issued = codec.issue_access_token(subject="u1", role="creator", session_id="s1")
    decoded = codec.decode_access_token(token)
    assert decoded == issued
    assert decoded.role == "creator" and decoded.session_id == "s1"
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "k1", "typ": "JWT"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256_with_public_key() -> str:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def tampered() -> str:
    token = jwt.encode(claims(), KEY, algorithm="EdDSA")
    header, _payload, signature = token.split(".")
    forged = _b64({**claims(), "role": "admin"})
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (jwt.encode(claims(exp=int(time.time()) - 1), KEY, algorithm="EdDSA"), "expired"),
        (jwt.encode(claims(aud="someone-else"), KEY, algorithm="EdDSA"), "audience"),
        (jwt.encode(claims(iss="https://evil.test"), KEY, algorithm="EdDSA"), "issuer"),
        (jwt.encode(claims(nbf=int(time.time()) + 600), KEY, algorithm="EdDSA"), "not yet valid"),
        (jwt.encode(claims(), OTHER_KEY, algorithm="EdDSA"), "signature"),
        (jwt.encode(claims(), None, algorithm="none"), "alg none"),
        (hs256_with_public_key(), "HS256 keyed with the public key"),
        (tampered(), "tampered payload"),
        (
            jwt.encode({k: v for k, v in claims().items() if k != "jti"}, KEY, algorithm="EdDSA"),
            "missing jti",
        ),
        (jwt.encode(claims(role="root"), KEY, algorithm="EdDSA"), "unknown role"),
        ("not-a-jwt", "garbage"),
    ],
)
def test_rejects_untrustworthy_tokens(token, reason):
    with pytest.raises(Unauthenticated):
        make_codec().decode_access_token(token)


def test_codec_without_private_key_cannot_sign():
    with pytest.raises(RuntimeError):
        make_codec(private_key=None).issue_access_token(subject="u", role="brand", session_id="s")
