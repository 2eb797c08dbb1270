import pytest

from kernel.errors import InvalidInput
from services.auth import passwords


def test_hash_is_argon2id_and_verifies():
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "correct horse battery")
    assert not passwords.verify_password(hashed, "wrong horse battery")


def test_unknown_account_never_verifies():
    assert not passwords.verify_password(None, "decoy password that no account has")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 10"),
        ("          ", "whitespace"),
        ("me@example.com", "email"),
    ],
)
def test_policy_rejections(password, message):
    with pytest.raises(InvalidInput) as caught:
        passwords.check_password_policy(password, "me@example.com", 10)
    assert any(message in error["message"] for error in caught.value.errors)


def test_policy_accepts_a_long_passphrase():
    passwords.check_password_policy("a perfectly fine passphrase", "me@example.com", 10)
