"""Nobody on the bus is trusted by position: a bare AMQP client calling a service directly acts
for a user only with that user's valid access token in the RPC context (issue 10, item 1)."""

import base64
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.exceptions import IncorrectSignature
from nameko.standalone.rpc import ClusterRpcProxy

from kernel.denylist import AccessDenylist
from kernel.errors import Unauthenticated
from kernel.tokens import TokenCodec
from services.users.service import UsersService
from tests.acting import access_token
from tests.e2e.marketplace import creator_profile

pytestmark = pytest.mark.integration


def bare_client(config, token=None):
    """A client of RabbitMQ that is not the gateway: it writes whatever context it likes."""
    context = {} if token is None else {AUTH_TOKEN_CONTEXT_KEY: token}
    return ClusterRpcProxy(config, context_data=context, timeout=20)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_claims(token: str, **claims) -> str:
    """`token` with some claims rewritten and the original signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, _b64(json.dumps({**decoded, **claims}).encode()), signature])


def signed_by_another_key(config, user_id: str, role: str) -> str:
    codec = TokenCodec.from_config(config)
    forger = TokenCodec(
        issuer=codec.issuer,
        audience=codec.audience,
        key_id=codec.key_id,
        access_ttl_seconds=900,
        leeway_seconds=0,
        public_key=codec._public_key,
        private_key=Ed25519PrivateKey.generate(),
    )
    token, _ = forger.issue_access_token(subject=user_id, role=role, session_id=str(uuid.uuid4()))
    return token


@pytest.fixture
def users(container_factory, service_config):
    container_factory(UsersService, service_config).start()
    return service_config


def test_only_the_victims_own_token_changes_the_victims_profile(users, redis_client):
    config = users
    victim = str(uuid.uuid4())
    attacker = str(uuid.uuid4())
    victim_token = access_token(config, victim, "creator")
    with bare_client(config, victim_token) as as_victim:
        original = as_victim.users.replace_profile(creator_profile(display_name="Victim"))
    assert original["display_name"] == "Victim"

    revoked = access_token(config, victim, "creator")
    AccessDenylist(redis_client).deny_token(
        TokenCodec.from_config(config).decode_access_token(revoked).token_id, 900
    )
    attacker_token = access_token(config, attacker, "creator")
    forged_tokens = {
        "no token": None,
        "empty token": "",
        "not a JWT": "not-a-token",
        "signed by another key": signed_by_another_key(config, victim, "creator"),
        "expired": access_token(config, victim, "creator", now=time.time() - 3600),
        "revoked": revoked,
        "another user's token, claims rewritten": with_claims(attacker_token, sub=victim),
        "unsigned": with_claims(victim_token).rsplit(".", 1)[0] + ".",
    }
    defaced = creator_profile(display_name="Defaced")
    for case, token in forged_tokens.items():
        with bare_client(config, token) as client, pytest.raises(Unauthenticated):
            client.users.replace_profile(defaced)
            pytest.fail(f"accepted: {case}")

    with bare_client(config) as client, pytest.raises(IncorrectSignature):
        # the old calling convention: an identity written by the caller is not accepted
        client.users.replace_profile({"user_id": victim, "role": "creator"}, defaced)

    with bare_client(config, attacker_token) as as_attacker:  # acts for the attacker only
        assert as_attacker.users.replace_profile(defaced)["id"] == attacker
    with bare_client(config, victim_token) as as_victim:
        assert as_victim.users.get_own_profile()["display_name"] == "Victim"


def test_public_reads_need_no_token(users):
    creator = str(uuid.uuid4())
    with bare_client(users, access_token(users, creator, "creator")) as as_creator:
        as_creator.users.replace_profile(creator_profile())
    with bare_client(users) as anonymous:
        assert anonymous.users.get_creator(creator)["id"] == creator


def test_shell_helper_acts_as_the_signed_in_user(container_factory, service_config):
    from scripts.act_as import act_as
    from services.auth.service import AuthService

    container_factory(AuthService, service_config).start()
    with ClusterRpcProxy(service_config, timeout=20) as rpc:
        account = rpc.auth.register(
            {"email": "dev@example.com", "password": "correct horse battery", "role": "brand"}
        )
        with pytest.raises(Unauthenticated):
            rpc.auth.get_own_account()  # n.rpc alone acts for nobody
    developer = act_as(service_config, "dev@example.com", "correct horse battery")
    assert developer.auth.get_own_account()["id"] == account["id"]
