"""Ingestion keys: service accounts that may POST events (e.g. a partner's tracking pipeline).
Admins create, list and revoke them. The key is `ik_<id>_<secret>`; only SHA-256(secret) is
stored and the key is shown once, at creation."""

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.analytics.ingestion import Sender
from services.analytics.models import IngestionKey
from services.analytics.schemas import IngestionKeyCreate, IngestionKeyCreated, IngestionKeyView
from services.common.errors import Forbidden, NotFound, Unauthenticated
from services.common.schemas import Principal, parse_model

PREFIX = "ik_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only admins manage ingestion keys")


def _view(row: IngestionKey) -> dict[str, Any]:
    return IngestionKeyView.model_validate(row, from_attributes=True, strict=False).model_dump(
        mode="json"
    )


def create_key(session: Session, principal: Principal, body: Any) -> dict[str, Any]:
    _require_admin(principal)
    request = parse_model(IngestionKeyCreate, body)
    secret = secrets.token_urlsafe(32)
    row = IngestionKey(
        id=uuid.uuid4(),
        name=request.name,
        secret_sha256=_digest(secret),
        brand_id=request.brand_id,
        created_by=uuid.UUID(principal.user_id),
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return IngestionKeyCreated.model_validate(
        {**_view(row), "key": f"{PREFIX}{row.id.hex}_{secret}"}, strict=False
    ).model_dump(mode="json")


def list_keys(session: Session, principal: Principal) -> dict[str, Any]:
    _require_admin(principal)
    rows = session.execute(select(IngestionKey).order_by(IngestionKey.created_at)).scalars()
    return {"items": [_view(row) for row in rows]}


def revoke_key(session: Session, principal: Principal, key_id: str) -> None:
    _require_admin(principal)
    try:
        row = session.get(IngestionKey, uuid.UUID(key_id), with_for_update=True)
    except ValueError:
        row = None
    if row is None:
        raise NotFound("no such ingestion key")
    if row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)


def sender_for_key(session: Session, key: str) -> Sender:
    invalid = Unauthenticated("invalid or revoked ingestion key")
    key_id, _, secret = key.removeprefix(PREFIX).partition("_")
    if not key.startswith(PREFIX) or not secret:
        raise invalid
    try:
        row = session.get(IngestionKey, uuid.UUID(hex=key_id))
    except ValueError:
        raise invalid from None
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.secret_sha256, _digest(secret))
    ):
        raise invalid
    return Sender("key", brand_id=str(row.brand_id) if row.brand_id else None)
