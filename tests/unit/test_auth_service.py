"""The auth service's entrypoints with nameko's worker_factory: no broker, no database."""

import pytest
from nameko.testing.services import worker_factory

from kernel.errors import InvalidInput, Unauthenticated
from services.auth.service import AuthService

CONFIG = {
    "JWT": {"REFRESH_TTL_SECONDS": 3600},
    "AUTH": {
        "PASSWORD_MIN_LENGTH": 10,
        "LOGIN_FAILURES_PER_ACCOUNT": "5/minute",
        "LOGIN_FAILURES_PER_ACCOUNT_TOTAL": "50/hour",
        "LOGIN_FAILURES_PER_IP": "30/minute",
        "REGISTRATIONS_PER_IP": "20/hour",
    },
}


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"email": "a@example.com", "password": "long enough pw", "role": "admin"},
        {"email": "not-an-email", "password": "long enough pw", "role": "brand"},
        {"email": "a@example.com", "password": 12345678901, "role": "brand"},
        {"email": "a@example.com", "password": "long enough pw", "role": "brand", "is_admin": True},
    ],
)
def test_register_rejects_bad_input_before_touching_the_database(request_body):
    service = worker_factory(AuthService, config=CONFIG)
    with pytest.raises(InvalidInput):
        service.register(request_body)
    assert service.db.mock_calls == []


def test_register_rejects_weak_password_before_writing():
    service = worker_factory(AuthService, config=CONFIG)
    with pytest.raises(InvalidInput) as caught:
        service.register({"email": "a@example.com", "password": "short", "role": "creator"})
    assert caught.value.errors[0]["field"] == "password"
    service.db.add.assert_not_called()


def test_logout_acts_only_on_the_verified_caller():
    service = worker_factory(AuthService, config=CONFIG)
    service.caller.claims.side_effect = Unauthenticated("no token")
    with pytest.raises(Unauthenticated):
        service.logout({})
    service.db.merge.assert_not_called()


def test_health_names_the_service():
    assert worker_factory(AuthService).health() == {"service": "auth", "status": "ok"}
