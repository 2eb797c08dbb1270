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
from kernel.denylist import AccessDenylist
from kernel.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from kernel.ratelimit import AttemptLimiter, Budget
from kernel.tokens import AccessClaims, TokenCodec
from services.auth import passwords
from services.auth.models import RefreshFamily, RefreshToken, RevokedAccessToken, User, outbox
from services.auth.schemas import (
    Account,
    LoginRequest,
    RegisterRequest,
    TokenPair,
    normalise_email,
)

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "invalid email or password"
INVALID_REFRESH = "refresh token is invalid, expired or revoked"


@dataclass(frozen=True)
class AuthSettings:
    refresh_ttl_seconds: int  # sliding: a refresh token unused this long expires
    password_min_length: int
    login_failures_per_account: str  # per account and address
    login_failures_per_account_total: str  # per account, across all addresses
    login_failures_per_ip: str
    registrations_per_ip: str
    refresh_absolute_ttl_seconds: int = 90 * 86_400  # a session ends this long after login

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "AuthSettings":
        return cls(
            refresh_ttl_seconds=int(config["JWT"]["REFRESH_TTL_SECONDS"]),
            refresh_absolute_ttl_seconds=int(
                config["JWT"].get("REFRESH_ABSOLUTE_TTL_SECONDS") or 90 * 86_400
            ),
            password_min_length=int(config["AUTH"]["PASSWORD_MIN_LENGTH"]),
            login_failures_per_account=str(config["AUTH"]["LOGIN_FAILURES_PER_ACCOUNT"]),
            login_failures_per_account_total=str(
                config["AUTH"]["LOGIN_FAILURES_PER_ACCOUNT_TOTAL"]
            ),
            login_failures_per_ip=str(config["AUTH"]["LOGIN_FAILURES_PER_IP"]),
            registrations_per_ip=str(config["AUTH"]["REGISTRATIONS_PER_IP"]),
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


def register(
    session: Session,
    limiter: AttemptLimiter,
    settings: AuthSettings,
    request: RegisterRequest,
    client_ip: str,
) -> dict[str, Any]:
    """Every registration that reaches password hashing (argon2id, 64 MiB) counts against the
    address's budget; a weak password (422) or a taken email (409) answers first and costs
    nothing."""
    passwords.check_password_policy(request.password, request.email, settings.password_min_length)
    if session.scalars(select(User.id).where(User.email == request.email)).first() is not None:
        raise Conflict("an account with this email already exists")
    attempt = limiter.reserve(
        [Budget("address", settings.registrations_per_ip, f"register-ip:{client_ip}")]
    )
    if not attempt.allowed:
        raise TooManyRequests.retry_in(
            "too many registrations from this address", attempt.retry_after
        )
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
    family = RefreshFamily(user_id=user.id, created_at=_now())
    session.add(family)
    session.flush()
    return _issue_tokens(session, codec, settings, user, family)


def _session_ends_at(family: RefreshFamily, settings: AuthSettings) -> dt.datetime:
    return family.created_at + dt.timedelta(seconds=settings.refresh_absolute_ttl_seconds)


def _issue_tokens(
    session: Session, codec: TokenCodec, settings: AuthSettings, user: User, family: RefreshFamily
) -> dict[str, Any]:
    """A new refresh token expires after the sliding lifetime, never after the session's end."""
    refresh_token = secrets.token_urlsafe(32)
    sliding = _now() + dt.timedelta(seconds=settings.refresh_ttl_seconds)
    session.add(
        RefreshToken(
            family_id=family.id,
            token_hash=_hash_refresh_token(refresh_token),
            expires_at=min(sliding, _session_ends_at(family, settings)),
        )
    )
    access_token, _ = codec.issue_access_token(
        subject=str(user.id), role=user.role, session_id=str(family.id)
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=codec.access_ttl_seconds,
    ).model_dump()


LOGIN_REFUSALS = {
    "address": "too many failed logins from this address",
    "account-address": "too many failed logins for this account from this address",
    "account": "too many failed logins for this account",
}


def login_budgets(settings: AuthSettings, email: str, client_ip: str) -> list[Budget]:
    """Failures (never successes) count: per address (many users share a NAT), per account and
    address (an attacker throttles only itself), per account across addresses (a larger cap
    against distributed guessing)."""
    return [
        Budget("address", settings.login_failures_per_ip, f"login-ip:{client_ip}"),
        Budget(
            "account-address", settings.login_failures_per_account, f"login:{email}:{client_ip}"
        ),
        Budget("account", settings.login_failures_per_account_total, f"login:{email}"),
    ]


def login(
    session: Session,
    codec: TokenCodec,
    limiter: AttemptLimiter,
    settings: AuthSettings,
    request: LoginRequest,
    client_ip: str,
) -> dict[str, Any]:
    """Each attempt is counted as a failure before the password is checked (atomically, so
    parallel guesses cannot overshoot a budget) and refunded when it succeeds."""
    try:
        email = normalise_email(request.email)
    except ValueError:
        email = request.email.strip().lower()  # cannot match an account; fail like any other
    budgets = login_budgets(settings, email, client_ip)
    attempt = limiter.reserve(budgets)
    if attempt.refused_by is not None:
        raise TooManyRequests.retry_in(LOGIN_REFUSALS[attempt.refused_by.name], attempt.retry_after)
    try:
        user = session.scalars(select(User).where(User.email == email)).one_or_none()
        verified = passwords.verify_password(user.password_hash if user else None, request.password)
    except Exception:
        limiter.refund(attempt)  # our failure, not the caller's
        raise
    if not verified:
        raise Unauthenticated(INVALID_CREDENTIALS)
    assert user is not None
    limiter.refund(attempt)
    limiter.clear(budgets[1].key)  # the owner's own typos from this address are forgiven
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
    now = _now()
    if (
        family.revoked_at is not None
        or token.expires_at <= now
        or _session_ends_at(family, settings) <= now
    ):
        raise Unauthenticated(INVALID_REFRESH)
    if token.rotated_at is not None:
        _revoke_family(session, family.id, "refresh token reuse")
        # The session's newest access token may have been issued just now: refuse the session
        # for as long as any verifier could still accept such a token.
        denylist.deny_session(str(family.id), _accepted_for(codec))
        # The revocation must survive the error we are about to raise (which rolls back).
        session.commit()
        log.warning("refresh token reuse detected; revoked session %s", family.id)
        raise Unauthenticated(INVALID_REFRESH)
    token.rotated_at = _now()
    user = session.get(User, family.user_id)
    assert user is not None
    return _issue_tokens(session, codec, settings, user, family)


def _accepted_for(codec: TokenCodec) -> int:
    """Seconds a token issued now stays acceptable somewhere: its lifetime plus the clock skew
    verifiers allow past `exp`."""
    return codec.access_ttl_seconds + codec.leeway_seconds


def logout(
    session: Session,
    codec: TokenCodec,
    denylist: AccessDenylist,
    claims: AccessClaims,
    refresh_token: str | None,
) -> None:
    """Deny the presented access token and end its session (and the refresh token's, if given).
    Denylist entries last until verifiers would refuse the tokens anyway: the token's `exp` plus
    the leeway; for the session, a whole token lifetime plus the leeway (it may hold a token
    newer than the presented one)."""
    token_ttl = max(0, claims.expires_at + codec.leeway_seconds - int(_now().timestamp()))
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
    denylist.deny_token(claims.token_id, token_ttl)
    denylist.deny_session(claims.session_id, _accepted_for(codec))


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


def resync_denylist(session: Session, denylist: AccessDenylist, codec: TokenCodec) -> int:
    """Re-assert every revocation a verifier could still need in Redis (it may have restarted
    empty): tokens until their exp plus the leeway, sessions for a token lifetime plus the leeway
    after their revocation."""
    now = _now()
    leeway = dt.timedelta(seconds=codec.leeway_seconds)
    count = 0
    for row in session.scalars(
        select(RevokedAccessToken).where(RevokedAccessToken.expires_at + leeway > now)
    ):
        ttl = int((row.expires_at + leeway - now).total_seconds())
        denylist.deny_token(str(row.token_id), ttl)
        count += 1
    window = dt.timedelta(seconds=_accepted_for(codec))
    for family_id, revoked_at in session.execute(
        select(RefreshFamily.id, RefreshFamily.revoked_at).where(
            RefreshFamily.revoked_at > now - window
        )
    ):
        denylist.deny_session(str(family_id), int((revoked_at + window - now).total_seconds()))
        count += 1
    return count
