"""The auth service in a real Nameko container on real PostgreSQL, Redis and RabbitMQ."""

import eventlet
import pytest
from nameko.events import event_handler
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.auth import passwords
from services.auth.models import User
from services.auth.service import AuthService
from services.common.errors import Conflict, InvalidInput, TooManyRequests, Unauthenticated
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


def test_create_admin_by_rpc(auth):
    admin = auth.create_admin("Ops@Example.com", PASSWORD)
    assert admin["role"] == "admin" and admin["email"] == "ops@example.com"
    assert "access_token" in login(auth, "ops@example.com")


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


def test_logout_denies_the_token_and_survives_a_redis_flush(auth, redis_client, db_engine):
    register(auth)
    tokens = login(auth)
    auth.logout(tokens["access_token"], {"refresh_token": tokens["refresh_token"]})
    with pytest.raises(Unauthenticated):
        auth.verify(tokens["access_token"])
    with pytest.raises(Unauthenticated):
        auth.refresh({"refresh_token": tokens["refresh_token"]})

    redis_client.flushdb()  # Redis restarted empty: PostgreSQL still knows the revocation
    from services.auth import accounts
    from services.common.denylist import AccessDenylist

    with Session(db_engine) as session:
        assert accounts.resync_denylist(session, AccessDenylist(redis_client), 900) >= 1
    with pytest.raises(Unauthenticated):
        auth.verify(tokens["access_token"])


def test_logout_with_someone_elses_refresh_token_is_refused(auth):
    register(auth)
    register(auth, email="other@example.com")
    mine = login(auth)
    theirs = login(auth, email="other@example.com")
    with pytest.raises(Unauthenticated):
        auth.logout(mine["access_token"], {"refresh_token": theirs["refresh_token"]})
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
