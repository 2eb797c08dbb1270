"""Access-token codec: EdDSA-signed JWTs (RFC 9068 `typ: at+jwt`) with a strict algorithm
allowlist, iss/aud/exp/nbf, and the verification key picked by `kid` from a key set of at most two
keys (the current signing key and the previous one), so keys rotate without signing anyone out."""

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kernel.config import resolve_path
from kernel.errors import Unauthenticated

ALLOWED_ALGORITHMS = ["EdDSA"]
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 section 2.1, not a secret
ACCEPTED_TYPES = {ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"}  # section 4, step 1
MAX_VERIFICATION_KEYS = 2
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "role", "sid"]


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    role: str
    token_id: str
    session_id: str
    expires_at: int

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "AccessClaims":
        return cls(
            subject=payload["sub"],
            role=payload["role"],
            token_id=payload["jti"],
            session_id=payload["sid"],
            expires_at=int(payload["exp"]),
        )


class TokenCodec:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        key_id: str,
        access_ttl_seconds: int,
        leeway_seconds: int,
        public_key: Ed25519PublicKey,
        private_key: Ed25519PrivateKey | None = None,
        previous_keys: dict[str, Ed25519PublicKey] | None = None,
    ) -> None:
        """`public_key` verifies tokens whose `kid` is `key_id` (the signing key's); a token
        signed by a retired key still verifies while its kid is in `previous_keys`."""
        self.issuer = issuer
        self.audience = audience
        self.key_id = key_id
        self.access_ttl_seconds = access_ttl_seconds
        self.leeway_seconds = leeway_seconds
        self._public_key = public_key
        self._private_key = private_key
        self._keys = {**(previous_keys or {}), key_id: public_key}
        if len(self._keys) > MAX_VERIFICATION_KEYS:
            raise ValueError(f"at most {MAX_VERIFICATION_KEYS} verification keys")

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    @classmethod
    def from_config(cls, config: dict[str, Any], *, signing: bool = False) -> "TokenCodec":
        jwt_config = config["JWT"]
        private_key = None
        if signing:
            private_key = serialization.load_pem_private_key(
                resolve_path(jwt_config["PRIVATE_KEY_FILE"]).read_bytes(), password=None
            )
            assert isinstance(private_key, Ed25519PrivateKey), "JWT private key must be Ed25519"
        public_key = load_public_key(jwt_config["PUBLIC_KEY_FILE"])
        previous_keys = {}
        previous_file = str(jwt_config.get("PREVIOUS_PUBLIC_KEY_FILE") or "")
        if previous_file:
            previous_id = str(jwt_config.get("PREVIOUS_KEY_ID") or "")
            if not previous_id or previous_id == str(jwt_config["KEY_ID"]):
                raise ValueError("JWT.PREVIOUS_KEY_ID must name the previous key (not KEY_ID)")
            previous_keys[previous_id] = load_public_key(previous_file)
        return cls(
            issuer=jwt_config["ISSUER"],
            audience=jwt_config["AUDIENCE"],
            key_id=str(jwt_config["KEY_ID"]),
            access_ttl_seconds=int(jwt_config["ACCESS_TTL_SECONDS"]),
            leeway_seconds=int(jwt_config["LEEWAY_SECONDS"]),
            public_key=public_key,
            private_key=private_key,
            previous_keys=previous_keys,
        )

    def issue_access_token(
        self, *, subject: str, role: str, session_id: str, now: float | None = None
    ) -> tuple[str, AccessClaims]:
        if self._private_key is None:
            raise RuntimeError("this TokenCodec was built without the signing key")
        issued_at = int(now if now is not None else time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "sid": session_id,
            "jti": str(uuid.uuid4()),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.access_ttl_seconds,
        }
        token = jwt.encode(
            payload,
            self._private_key,
            algorithm="EdDSA",
            headers={"kid": self.key_id, "typ": ACCESS_TOKEN_TYPE},
        )
        return token, AccessClaims.from_payload(payload)

    def decode_access_token(self, token: str) -> AccessClaims:
        """Verify type, key id, signature, algorithm, issuer, audience and time claims; raise
        Unauthenticated."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid access token: {exc}") from exc
        if str(header.get("typ", "")).lower() not in ACCEPTED_TYPES:
            raise Unauthenticated(f"invalid access token: typ must be {ACCESS_TOKEN_TYPE}")
        key = self._keys.get(header.get("kid"))  # type: ignore[arg-type]
        if key is None:
            raise Unauthenticated("invalid access token: unknown key id")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid access token: {exc}") from exc
        if payload["role"] not in {"brand", "creator", "admin"}:
            raise Unauthenticated("invalid access token: unknown role")
        return AccessClaims.from_payload(payload)


def load_public_key(path: str) -> Ed25519PublicKey:
    public_key = serialization.load_pem_public_key(resolve_path(path).read_bytes())
    assert isinstance(public_key, Ed25519PublicKey), "JWT public keys must be Ed25519"
    return public_key
