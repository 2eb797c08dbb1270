import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.errors import Unauthenticated
from kernel.tokens import TokenCodec
from tests.codecs import KEY, make_codec

OTHER_KEY = Ed25519PrivateKey.generate()


def sign(payload: dict, key=KEY, algorithm="EdDSA", **headers) -> str:
    """A token as the issuer makes it (kid k1, typ at+jwt) unless `headers` say otherwise."""
    return jwt.encode(
        payload, key, algorithm=algorithm, headers={"kid": "k1", "typ": "at+jwt", **headers}
    )


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
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "k1", "typ": "at+jwt"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256_with_public_key() -> str:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'k1'})}.{_b64(claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def tampered() -> str:
    token = sign(claims())
    header, _payload, signature = token.split(".")
    forged = _b64({**claims(), "role": "admin"})
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (sign(claims(exp=int(time.time()) - 1)), "expired"),
        (sign(claims(aud="someone-else")), "audience"),
        (sign(claims(iss="https://evil.test")), "issuer"),
        (sign(claims(nbf=int(time.time()) + 600)), "not yet valid"),
        (sign(claims(), OTHER_KEY), "signature"),
        (sign(claims(), None, "none"), "alg none"),
        (hs256_with_public_key(), "HS256 keyed with the public key"),
        (tampered(), "tampered payload"),
        (
            sign({k: v for k, v in claims().items() if k != "jti"}),
            "missing jti",
        ),
        (sign(claims(role="root")), "unknown role"),
        ("not-a-jwt", "garbage"),
        (sign(claims(), typ="JWT"), "typ JWT, not an access token (RFC 9068)"),
        (jwt.encode(claims(), KEY, algorithm="EdDSA", headers={"kid": "k1"}), "no typ"),
        (sign(claims(), kid="k9"), "unknown kid"),
        (jwt.encode(claims(), KEY, algorithm="EdDSA", headers={"typ": "at+jwt"}), "no kid"),
    ],
)
def test_rejects_untrustworthy_tokens(token, reason):
    with pytest.raises(Unauthenticated):
        make_codec().decode_access_token(token)


def test_codec_without_private_key_cannot_sign():
    with pytest.raises(RuntimeError):
        make_codec(private_key=None).issue_access_token(subject="u", role="brand", session_id="s")


def test_a_rotated_key_verifies_while_it_is_in_the_key_set():
    old = make_codec(key_id="k0", public_key=OTHER_KEY.public_key(), private_key=OTHER_KEY)
    token, _ = old.issue_access_token(subject="u", role="brand", session_id="s")
    during = make_codec(previous_keys={"k0": OTHER_KEY.public_key()})
    assert during.decode_access_token(token).subject == "u"
    new_token, _ = during.issue_access_token(subject="v", role="brand", session_id="s")
    assert jwt.get_unverified_header(new_token)["kid"] == "k1"
    assert during.decode_access_token(new_token).subject == "v"
    after = make_codec()  # the previous key removed from the set
    with pytest.raises(Unauthenticated, match="unknown key id"):
        after.decode_access_token(token)


def test_a_kid_verifies_only_with_its_own_key():
    """A token signed by the previous key but naming the current kid (or the reverse) fails."""
    codec = make_codec(previous_keys={"k0": OTHER_KEY.public_key()})
    with pytest.raises(Unauthenticated):
        codec.decode_access_token(sign(claims(), OTHER_KEY, kid="k1"))
    with pytest.raises(Unauthenticated):
        codec.decode_access_token(sign(claims(), KEY, kid="k0"))


def test_the_key_set_holds_at_most_two_keys():
    extra = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ValueError):
        make_codec(previous_keys={"k0": OTHER_KEY.public_key(), "k-1": extra})


def test_key_set_from_config(tmp_path):
    def pem(key, name):
        path = tmp_path / name
        path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return str(path)

    jwt_config = {
        "ISSUER": "https://issuer.test",
        "AUDIENCE": "api.test",
        "KEY_ID": "k1",
        "ACCESS_TTL_SECONDS": 900,
        "LEEWAY_SECONDS": 0,
        "PUBLIC_KEY_FILE": pem(KEY, "current.pem"),
        "PREVIOUS_PUBLIC_KEY_FILE": pem(OTHER_KEY, "previous.pem"),
        "PREVIOUS_KEY_ID": "k0",
    }
    codec = TokenCodec.from_config({"JWT": jwt_config})
    assert codec.key_ids == ["k0", "k1"]
    assert codec.decode_access_token(sign(claims(), OTHER_KEY, kid="k0")).subject == "user-1"
    alone = TokenCodec.from_config({"JWT": {**jwt_config, "PREVIOUS_PUBLIC_KEY_FILE": None}})
    assert alone.key_ids == ["k1"]
    with pytest.raises(ValueError):
        TokenCodec.from_config({"JWT": {**jwt_config, "PREVIOUS_KEY_ID": "k1"}})
