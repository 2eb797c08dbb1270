"""Password hashing (argon2id via argon2-cffi) and the password policy."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.errors import InvalidInput

HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults
# Verified against when the email is unknown, so both failure paths cost one argon2 verification.
_DECOY_HASH = HASHER.hash("decoy password that no account has")


def check_password_policy(password: str, email: str, min_length: int) -> None:
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters")
    if not password.strip():
        problems.append("must not be only whitespace")
    if password.strip().lower() == email.lower():
        problems.append("must not be the email address")
    if problems:
        raise InvalidInput(
            "password does not meet the policy",
            [{"field": "password", "message": m, "code": "password_policy"} for m in problems],
        )


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not an account exists: pass None for an unknown email."""
    try:
        return HASHER.verify(password_hash or _DECOY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)
