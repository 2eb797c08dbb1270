"""Account and session logic. Takes its stores as arguments so it runs without a broker."""

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dependencies.outbox import record_event
from services.auth import passwords
from services.auth.models import RefreshFamily, RefreshToken, RevokedAccessToken, User, outbox
from services.auth.schemas import (
    Account,
    LoginRequest,
    RegisterRequest,
    TokenPair,
    normalise_email,
)
from services.common.denylist import AccessDenylist
from services.common.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from services.common.ratelimit import RateLimiter
from services.common.tokens import AccessClaims, TokenCodec

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "invalid email or password"
INVALID_REFRESH = "refresh token is invalid, expired or revoked"


@dataclass(frozen=True)
class AuthSettings:
    refresh_ttl_seconds: int
    password_min_length: int
    login_failures_per_account: str
    login_attempts_per_ip: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "AuthSettings":
        return cls(
            refresh_ttl_seconds=int(config["JWT"]["REFRESH_TTL_SECONDS"]),
            password_min_length=int(config["AUTH"]["PASSWORD_MIN_LENGTH"]),
            login_failures_per_account=str(config["AUTH"]["LOGIN_FAILURES_PER_ACCOUNT"]),
            login_attempts_per_ip=str(config["AUTH"]["LOGIN_ATTEMPTS_PER_IP"]),
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(user: User) -> dict[str, Any]:
    return Account(
        id=user.id,
        email=user.email,
        role=user.role,  # type: ignore[arg-type]
        display_name=user.display_name,
        created_at=user.created_at,
    ).model_dump(mode="json")


def _create_user(
    session: Session,
    settings: AuthSettings,
    *,
    email: str,
    password: str,
    role: str,
    display_name: str | None,
) -> User:
    passwords.check_password_policy(password, email, settings.password_min_length)
    user = User(
        email=email,
        password_hash=passwords.hash_password(password),
        role=role,
        display_name=display_name,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("an account with this email already exists") from None
    session.refresh(user)
    return user


def register(session: Session, settings: AuthSettings, request: RegisterRequest) -> dict[str, Any]:
    user = _create_user(
        session,
        settings,
        email=request.email,
        password=request.password,
        role=request.role,
        display_name=request.display_name,
    )
    record_event(
        session,
        outbox,
        "user_registered",
        {
            "user_id": str(user.id),
            "email": user.email,
            "role": user.role,
            "display_name": user.display_name,
        },
    )
    log.info("registered account %s role=%s", user.id, user.role)
    return _account(user)


def create_admin(
    session: Session, settings: AuthSettings, email: str, password: str
) -> dict[str, Any]:
    """Only reachable by RPC from an operator's shell or script; the HTTP API never offers it."""
    try:
        email = normalise_email(email)
    except ValueError as exc:
        raise InvalidInput(
            str(exc), [{"field": "email", "message": str(exc), "code": "email"}]
        ) from None
    user = _create_user(
        session, settings, email=email, password=password, role="admin", display_name="admin"
    )
    record_event(
        session,
        outbox,
        "user_registered",
        {"user_id": str(user.id), "email": user.email, "role": user.role, "display_name": "admin"},
    )
    log.warning("created admin account %s", user.id)
    return _account(user)


def _start_session(
    session: Session, codec: TokenCodec, settings: AuthSettings, user: User
) -> dict[str, Any]:
    family = RefreshFamily(user_id=user.id)
    session.add(family)
    session.flush()
    return _issue_tokens(session, codec, settings, user, family.id)


def _issue_tokens(
    session: Session, codec: TokenCodec, settings: AuthSettings, user: User, family_id: uuid.UUID
) -> dict[str, Any]:
    refresh_token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            family_id=family_id,
            token_hash=_hash_refresh_token(refresh_token),
            expires_at=_now() + dt.timedelta(seconds=settings.refresh_ttl_seconds),
        )
    )
    access_token, _ = codec.issue_access_token(
        subject=str(user.id), role=user.role, session_id=str(family_id)
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=codec.access_ttl_seconds,
    ).model_dump()


def login(
    session: Session,
    codec: TokenCodec,
    limiter: RateLimiter,
    settings: AuthSettings,
    request: LoginRequest,
    client_ip: str,
) -> dict[str, Any]:
    per_ip = limiter.hit(settings.login_attempts_per_ip, f"login-ip:{client_ip}")
    if not per_ip.allowed:
        raise TooManyRequests.retry_in(
            "too many login attempts from this address", per_ip.reset_after
        )
    try:
        email = normalise_email(request.email)
    except ValueError:
        email = request.email.strip().lower()  # cannot match an account; fail like any other
    per_account = limiter.peek(settings.login_failures_per_account, f"login-account:{email}")
    if not per_account.allowed:
        raise TooManyRequests.retry_in(
            "too many failed logins for this account", per_account.reset_after
        )

    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    if not passwords.verify_password(user.password_hash if user else None, request.password):
        limiter.hit(settings.login_failures_per_account, f"login-account:{email}")
        raise Unauthenticated(INVALID_CREDENTIALS)
    assert user is not None
    limiter.reset(settings.login_failures_per_account, f"login-account:{email}")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(request.password)
    return _start_session(session, codec, settings, user)


def _revoke_family(session: Session, family_id: uuid.UUID, reason: str) -> None:
    """End a session (refresh-token family). `session_revoked` tells the ws hubs, which close the
    session's open sockets (4401) instead of waiting for its access token to expire."""
    user_id = session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.id == family_id, RefreshFamily.revoked_at.is_(None))
        .values(revoked_at=_now(), revoke_reason=reason)
        .returning(RefreshFamily.user_id)
    ).scalar_one_or_none()
    if user_id is not None:
        record_event(
            session,
            outbox,
            "session_revoked",
            {"session_id": str(family_id), "user_id": str(user_id), "reason": reason},
        )


def refresh(
    session: Session,
    codec: TokenCodec,
    denylist: AccessDenylist,
    settings: AuthSettings,
    refresh_token: str,
) -> dict[str, Any]:
    """Rotate a refresh token. Presenting an already rotated token revokes its whole family:
    either the client or a thief holds a stale copy, and we cannot tell which."""
    token = session.scalars(
        select(RefreshToken)
        .where(RefreshToken.token_hash == _hash_refresh_token(refresh_token))
        .with_for_update()
    ).one_or_none()
    if token is None:
        raise Unauthenticated(INVALID_REFRESH)
    family = session.get(RefreshFamily, token.family_id, with_for_update=True)
    assert family is not None
    if family.revoked_at is not None or token.expires_at <= _now():
        raise Unauthenticated(INVALID_REFRESH)
    if token.rotated_at is not None:
        _revoke_family(session, family.id, "refresh token reuse")
        denylist.deny_session(str(family.id), codec.access_ttl_seconds)
        # The revocation must survive the error we are about to raise (which rolls back).
        session.commit()
        log.warning("refresh token reuse detected; revoked session %s", family.id)
        raise Unauthenticated(INVALID_REFRESH)
    token.rotated_at = _now()
    user = session.get(User, family.user_id)
    assert user is not None
    return _issue_tokens(session, codec, settings, user, family.id)


def logout(
    session: Session, denylist: AccessDenylist, claims: AccessClaims, refresh_token: str | None
) -> None:
    """Deny the presented access token and end its session (and the refresh token's, if given)."""
    ttl = max(0, claims.expires_at - int(_now().timestamp()))
    expires_at = dt.datetime.fromtimestamp(claims.expires_at, dt.UTC)
    session.merge(
        RevokedAccessToken(
            token_id=uuid.UUID(claims.token_id),
            session_id=uuid.UUID(claims.session_id),
            expires_at=expires_at,
        )
    )
    _revoke_family(session, uuid.UUID(claims.session_id), "logout")
    if refresh_token is not None:
        token = session.scalars(
            select(RefreshToken).where(
                RefreshToken.token_hash == _hash_refresh_token(refresh_token)
            )
        ).one_or_none()
        family = session.get(RefreshFamily, token.family_id) if token else None
        if family is None or str(family.user_id) != claims.subject:
            raise Unauthenticated(INVALID_REFRESH)
        _revoke_family(session, family.id, "logout")
    session.flush()
    denylist.deny_token(claims.token_id, ttl)
    denylist.deny_session(claims.session_id, ttl)


def verify(codec: TokenCodec, denylist: AccessDenylist, access_token: str) -> dict[str, Any]:
    claims = codec.decode_access_token(access_token)
    if denylist.is_denied(claims.token_id, claims.session_id):
        raise Unauthenticated("access token has been revoked")
    return {
        "user_id": claims.subject,
        "role": claims.role,
        "session_id": claims.session_id,
        "token_id": claims.token_id,
        "expires_at": claims.expires_at,
    }


def get_account(session: Session, user_id: str) -> dict[str, Any]:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        raise NotFound("account not found") from None
    user = session.get(User, key)
    if user is None:
        raise NotFound("account not found")
    return _account(user)


def resync_denylist(session: Session, denylist: AccessDenylist, access_ttl_seconds: int) -> int:
    """Re-assert every unexpired revocation in Redis (it may have restarted empty)."""
    now = _now()
    count = 0
    for row in session.scalars(
        select(RevokedAccessToken).where(RevokedAccessToken.expires_at > now)
    ):
        ttl = int((row.expires_at - now).total_seconds())
        denylist.deny_token(str(row.token_id), ttl)
        count += 1
    recent = now - dt.timedelta(seconds=access_ttl_seconds)
    for family_id in session.scalars(
        select(RefreshFamily.id).where(RefreshFamily.revoked_at > recent)
    ):
        denylist.deny_session(str(family_id), access_ttl_seconds)
        count += 1
    return count
