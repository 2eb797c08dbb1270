"""The auth service in a real Nameko container on real PostgreSQL, Redis and RabbitMQ."""

import eventlet
import jwt
import pytest
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.events import event_handler
from nameko.exceptions import MethodNotFound
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text
from sqlalchemy.orm import Session

from kernel.errors import Conflict, InvalidInput, TooManyRequests, Unauthenticated
from services.auth import passwords
from services.auth.models import User
from services.auth.service import AuthService
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
RECEIVED: list[dict] = []


class RegistrationListener:
    name = "registration_listener"

    @event_handler("auth", "user_registered")
    def on_registered(self, payload):
        RECEIVED.append(payload)


# Small budgets keep these tests short (each login costs an argon2 verification); the defaults
# are in config.yml. Failures per account and address stay at their default (5).
LIMITS = {
    "LOGIN_FAILURES_PER_IP": "8/15minute",
    "LOGIN_FAILURES_PER_ACCOUNT_TOTAL": "12/hour",
    "REGISTRATIONS_PER_IP": "4/hour",
}


@pytest.fixture
def auth(container_factory, service_config):
    service_config["AUTH"] = {**service_config["AUTH"], **LIMITS}
    container_factory(AuthService, service_config).start()
    with ServiceRpcProxy("auth", service_config) as proxy:
        yield proxy


def register(auth, email="creator@example.com", role="creator", ip="10.0.0.1"):
    return auth.register({"email": email, "password": PASSWORD, "role": role}, ip)


def login(auth, email="creator@example.com", password=PASSWORD, ip="10.0.0.1"):
    return auth.login({"email": email, "password": password}, ip)


def test_register_normalises_email_and_publishes_event(
    auth, container_factory, service_config, db_engine
):
    RECEIVED.clear()
    container_factory(RegistrationListener, service_config).start()
    account = register(auth, email="  Creator@Example.COM ")
    assert account["email"] == "creator@example.com"
    assert account["role"] == "creator"
    with db_engine.connect() as connection:
        stored = connection.execute(text("SELECT email, password_hash FROM auth.users")).one()
    assert stored.email == "creator@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    event = wait_until(lambda: RECEIVED and RECEIVED[0])
    assert event["user_id"] == account["id"] and event["event_id"]
    assert wait_until(lambda: _pending_outbox(db_engine) == 0)


def _pending_outbox(db_engine) -> int:
    with db_engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM auth.outbox WHERE published_at IS NULL")
        ).scalar_one()


def test_duplicate_email_conflicts_regardless_of_case(auth):
    register(auth)
    with pytest.raises(Conflict):
        register(auth, email="CREATOR@example.com")


def test_admin_role_cannot_be_self_assigned(auth, db_engine):
    with pytest.raises(InvalidInput):
        register(auth, role="admin")
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM auth.users")).scalar_one() == 0


def as_user(service_config, access_token):
    """auth as the gateway calls it for a signed-in user: the token in the RPC context."""
    return ServiceRpcProxy(
        "auth", service_config, context_data={AUTH_TOKEN_CONTEXT_KEY: access_token}
    )


def test_admins_are_created_by_the_operator_command_not_by_rpc(auth, service_config, monkeypatch):
    import io

    from services.auth import admin as operator

    with pytest.raises(MethodNotFound):  # nobody on the bus mints an admin
        auth.create_admin("Ops@Example.com", PASSWORD)
    monkeypatch.setattr(operator, "load_config", lambda: service_config)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert operator.main(["create-admin", "--email", "Ops@Example.com"]) == 0
    tokens = login(auth, "ops@example.com")
    assert auth.verify(tokens["access_token"])["role"] == "admin"


def test_operator_command_refuses_a_weak_password_and_creates_nothing(
    service_config, db_engine, monkeypatch, capsys
):
    import io

    from services.auth import admin as operator

    monkeypatch.setattr(operator, "load_config", lambda: service_config)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert operator.main(["create-admin", "--email", "ops@example.com"]) == 1
    assert "password" in capsys.readouterr().err
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM auth.users")).scalar_one() == 0


def test_unknown_email_and_wrong_password_fail_alike(auth):
    register(auth)
    with pytest.raises(Unauthenticated) as unknown:
        login(auth, email="nobody@example.com")
    with pytest.raises(Unauthenticated) as wrong:
        login(auth, password="not the password")
    assert str(unknown.value) == str(wrong.value) == "invalid email or password"


def _limit(service_config, name: str) -> int:
    return int(str(service_config["AUTH"][name]).split("/")[0])


def test_failed_logins_throttle_the_account_from_that_address_but_not_others(auth):
    register(auth)
    register(auth, email="other@example.com")
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            login(auth, password="not the password", ip="10.0.0.9")
    with pytest.raises(TooManyRequests) as locked:
        login(auth, ip="10.0.0.9")  # even the right password waits out the window
    assert locked.value.retry_after > 0
    assert "access_token" in login(auth, email="other@example.com", ip="10.0.0.9")


def test_an_attacker_cannot_lock_the_owner_out(auth):
    register(auth)
    for _ in range(20):
        with pytest.raises((Unauthenticated, TooManyRequests)):
            login(auth, password="not the password", ip="10.6.6.6")
    assert "access_token" in login(auth, ip="10.0.0.1")  # the owner, from its own address


def test_distributed_guessing_meets_the_per_account_cap(auth, service_config):
    register(auth)
    total = _limit(service_config, "LOGIN_FAILURES_PER_ACCOUNT_TOTAL")
    for attempt in range(total):  # one guess from each of `total` addresses
        with pytest.raises(Unauthenticated):
            login(auth, password="not the password", ip=f"10.1.{attempt // 250}.{attempt % 250}")
    with pytest.raises(TooManyRequests) as capped:
        login(auth, password="not the password", ip="10.2.0.1")
    assert capped.value.detail == "too many failed logins for this account"


def test_parallel_wrong_passwords_never_overshoot_the_budget(auth, service_config):
    register(auth)
    budget = _limit(service_config, "LOGIN_FAILURES_PER_ACCOUNT")
    pool = eventlet.GreenPool(20)

    def guess(_: int) -> str:
        with ServiceRpcProxy("auth", service_config) as proxy:
            try:
                login(proxy, password="not the password", ip="10.3.3.3")
            except Unauthenticated:
                return "401"
            except TooManyRequests:
                return "429"
        return "200"

    outcomes = list(pool.imap(guess, range(20)))
    assert outcomes.count("401") == budget
    assert outcomes.count("429") == 20 - budget


def test_successful_logins_never_count_against_the_address(auth, db_engine):
    password_hash = passwords.hash_password(PASSWORD)
    with Session(db_engine) as session, session.begin():  # 40 accounts, hashed once
        session.add_all(
            User(email=f"user{n}@example.com", password_hash=password_hash, role="creator")
            for n in range(40)
        )
    for user in range(40):  # an office behind one NAT address, far beyond the failure budget
        assert "access_token" in login(auth, email=f"user{user}@example.com", ip="10.7.7.7")
    with pytest.raises(Unauthenticated):  # and failures from it still count from zero
        login(auth, email="user0@example.com", password="not the password", ip="10.7.7.7")


def test_per_ip_failures_are_limited(auth, service_config):
    limit = _limit(service_config, "LOGIN_FAILURES_PER_IP")
    for attempt in range(limit):  # a different account each time: only the IP limit can trip
        with pytest.raises(Unauthenticated):
            login(auth, email=f"nobody{attempt}@example.com", ip="10.9.9.9")
    with pytest.raises(TooManyRequests):
        login(auth, email="somebody-new@example.com", ip="10.9.9.9")
    with pytest.raises(Unauthenticated):
        login(auth, email="somebody-new@example.com", ip="10.9.9.10")


def test_registrations_per_address_are_limited(auth, service_config):
    limit = _limit(service_config, "REGISTRATIONS_PER_IP")
    for user in range(limit):
        register(auth, email=f"new{user}@example.com", ip="10.4.4.4")
    with pytest.raises(Conflict):  # a taken email costs nothing and answers as before
        register(auth, email="new0@example.com", ip="10.4.4.4")
    with pytest.raises(TooManyRequests) as refused:
        register(auth, email="one-more@example.com", ip="10.4.4.4")
    assert refused.value.retry_after > 0
    assert register(auth, email="one-more@example.com", ip="10.4.4.5")["id"]


def test_refresh_rotates_and_reuse_revokes_the_family(auth):
    register(auth)
    first = login(auth)
    second = auth.refresh({"refresh_token": first["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"]
    assert auth.verify(second["access_token"])["role"] == "creator"

    with pytest.raises(Unauthenticated):
        auth.refresh({"refresh_token": first["refresh_token"]})  # reuse of a rotated token
    with pytest.raises(Unauthenticated):
        auth.refresh({"refresh_token": second["refresh_token"]})  # the whole family is gone
    with pytest.raises(Unauthenticated):
        auth.verify(second["access_token"])  # and so are its access tokens


def test_logout_denies_the_token_and_survives_a_redis_flush(
    auth, service_config, redis_client, db_engine
):
    register(auth)
    tokens = login(auth)
    with as_user(service_config, tokens["access_token"]) as signed_in:
        signed_in.logout({"refresh_token": tokens["refresh_token"]})
    with pytest.raises(Unauthenticated):
        auth.verify(tokens["access_token"])
    with pytest.raises(Unauthenticated):
        auth.refresh({"refresh_token": tokens["refresh_token"]})

    redis_client.flushdb()  # Redis restarted empty: PostgreSQL still knows the revocation
    from kernel.denylist import AccessDenylist
    from kernel.tokens import TokenCodec
    from services.auth import accounts

    with Session(db_engine) as session:
        codec = TokenCodec.from_config(service_config)
        assert accounts.resync_denylist(session, AccessDenylist(redis_client), codec) >= 1
    with pytest.raises(Unauthenticated):
        auth.verify(tokens["access_token"])


def test_logout_with_someone_elses_refresh_token_is_refused(auth, service_config):
    register(auth)
    register(auth, email="other@example.com")
    mine = login(auth)
    theirs = login(auth, email="other@example.com")
    with pytest.raises(Unauthenticated), as_user(service_config, mine["access_token"]) as mine_auth:
        mine_auth.logout({"refresh_token": theirs["refresh_token"]})
    assert auth.refresh({"refresh_token": theirs["refresh_token"]})["access_token"]


def test_service_logs_carry_the_callers_request_id(auth, service_config, caplog):
    import logging

    from nameko.standalone.rpc import ServiceRpcProxy

    from dependencies.request_context import RequestIdFilter

    caplog.handler.addFilter(RequestIdFilter())
    traced = ServiceRpcProxy("auth", service_config, context_data={"request_id": "req-42"})
    with caplog.at_level(logging.INFO, logger="services.auth.accounts"), traced as proxy:
        register(proxy, email="traced@example.com")
    records = [r for r in caplog.records if "registered account" in r.getMessage()]
    assert records and records[0].request_id == "req-42"


def test_a_revoked_token_stays_refused_while_the_clock_skew_accepts_it(
    auth, service_config, redis_client, db_engine
):
    """Logout with a token past its exp but within the accepted skew: the denylist entries must
    outlive the skew, also after Redis restarts empty and the revocations are re-asserted."""
    import time

    from sqlalchemy.orm import Session

    from kernel.denylist import AccessDenylist
    from kernel.tokens import TokenCodec
    from services.auth import accounts
    from tests.acting import access_token

    account = register(auth)
    session_id = auth.verify(login(auth)["access_token"])["session_id"]
    codec = TokenCodec.from_config(service_config)
    assert codec.leeway_seconds >= 20
    issued = time.time() - codec.access_ttl_seconds - 10  # expired 10 s ago, within the skew
    late = access_token(service_config, account["id"], "creator", session_id, now=issued)
    assert auth.verify(late)["session_id"] == session_id  # still accepted: the skew
    with as_user(service_config, late) as signed_in:
        signed_in.logout({})
    with pytest.raises(Unauthenticated):
        auth.verify(late)

    redis_client.flushdb()
    with Session(db_engine) as session:
        accounts.resync_denylist(session, AccessDenylist(redis_client), codec)
    token_id = codec.decode_access_token(late).token_id
    assert redis_client.ttl(f"auth:denied:jti:{token_id}") > 10  # until exp + leeway
    with pytest.raises(Unauthenticated):
        auth.verify(late)


def test_refresh_reuse_refuses_the_session_for_a_whole_token_lifetime_plus_skew(
    auth, service_config, redis_client
):
    from kernel.tokens import TokenCodec

    register(auth)
    first = login(auth)
    session_id = auth.verify(first["access_token"])["session_id"]
    auth.refresh({"refresh_token": first["refresh_token"]})
    with pytest.raises(Unauthenticated):
        auth.refresh({"refresh_token": first["refresh_token"]})  # reuse
    codec = TokenCodec.from_config(service_config)
    remaining = redis_client.ttl(f"auth:denied:sid:{session_id}")
    assert remaining > codec.access_ttl_seconds + codec.leeway_seconds - 5


def test_refresh_sessions_end_after_their_absolute_lifetime(
    container_factory, service_config, db_engine
):
    import datetime as dt

    jwt_config = {**service_config["JWT"], "REFRESH_ABSOLUTE_TTL_SECONDS": 3600}
    container_factory(AuthService, {**service_config, "JWT": jwt_config}).start()
    with ServiceRpcProxy("auth", service_config) as auth:
        register(auth)
        old, young = login(auth), login(auth)

        def started(tokens, ago: dt.timedelta) -> None:
            session_id = auth.verify(tokens["access_token"])["session_id"]
            with db_engine.begin() as connection:
                connection.execute(
                    text("UPDATE auth.refresh_families SET created_at = :at WHERE id = :id"),
                    {"at": dt.datetime.now(dt.UTC) - ago, "id": session_id},
                )

        started(old, dt.timedelta(hours=1, minutes=1))  # used all along, but over an hour old
        started(young, dt.timedelta(minutes=50))
        with pytest.raises(Unauthenticated):
            auth.refresh({"refresh_token": old["refresh_token"]})
        rotated = auth.refresh({"refresh_token": young["refresh_token"]})
        with db_engine.connect() as connection:
            expires_in = connection.execute(
                text(
                    "SELECT extract(epoch FROM expires_at - now()) FROM auth.refresh_tokens "
                    "WHERE family_id = :id AND rotated_at IS NULL"
                ),
                {"id": auth.verify(rotated["access_token"])["session_id"]},
            ).scalar_one()
        assert expires_in <= 10 * 60  # the new refresh token ends with the session


REVOKED: list[dict] = []


class RevocationListener:
    name = "revocation_listener"

    @event_handler("auth", "session_revoked")
    def on_revoked(self, payload):
        REVOKED.append(payload)


def test_logout_and_refresh_reuse_publish_session_revoked_once_per_session(
    auth, container_factory, service_config
):
    REVOKED.clear()
    container_factory(RevocationListener, service_config).start()
    account = register(auth)
    first, second = login(auth), login(auth)
    with as_user(service_config, first["access_token"]) as signed_in:
        signed_in.logout({})
    rotated = auth.refresh({"refresh_token": second["refresh_token"]})
    with pytest.raises(Unauthenticated):
        auth.refresh({"refresh_token": second["refresh_token"]})  # reuse
    revoked = wait_until(lambda: len(REVOKED) >= 2 and REVOKED)

    def session_of(tokens):
        return jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]

    assert [(r["session_id"], r["user_id"], r["reason"]) for r in revoked] == [
        (session_of(first), account["id"], "logout"),
        (session_of(rotated), account["id"], "refresh token reuse"),
    ]
    assert all(r["event_id"] for r in revoked)
