"""A token codec on a throwaway key, for tests of token handling that need no config."""

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.tokens import TokenCodec

KEY = Ed25519PrivateKey.generate()
ISSUER, AUDIENCE, KEY_ID = "https://issuer.test", "api.test", "k1"


def make_codec(cls: type[TokenCodec] = TokenCodec, **overrides: Any) -> TokenCodec:
    settings: dict[str, Any] = dict(
        issuer=ISSUER,
        audience=AUDIENCE,
        key_id=KEY_ID,
        access_ttl_seconds=900,
        leeway_seconds=0,
        public_key=KEY.public_key(),
        private_key=KEY,
    )
    return cls(**{**settings, **overrides})
