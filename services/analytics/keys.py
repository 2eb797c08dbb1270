"""Ingestion keys: service accounts that may POST events (e.g. a partner's tracking pipeline).
Each key is scoped to one brand, optionally to some of its campaigns, and writes events for
nothing else. A brand creates, lists and revokes its own keys; an admin does so for any brand.
The key is `ik_<id>_<secret>`; only SHA-256(secret) is stored and the key is shown once, at
creation."""

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy.orm import Session

from kernel.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from kernel.pagination import newest_first, page_by
from kernel.schemas import Principal, as_response, parse_model
from services.analytics.directory import CampaignDirectory
from services.analytics.ingestion import Sender
from services.analytics.models import IngestionKey
from services.analytics.schemas import (
    IngestionKeyCreate,
    IngestionKeyCreated,
    IngestionKeyQuery,
    IngestionKeyView,
)

PREFIX = "ik_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_manager(principal: Principal) -> None:
    if principal.role not in ("brand", "admin"):
        raise Forbidden("only brands (their own keys) and admins manage ingestion keys")


def _key_brand(principal: Principal, request: IngestionKeyCreate) -> uuid.UUID:
    """The brand a new key sends for: a brand's own id; the one an admin names."""
    if principal.role == "brand":
        if request.brand_id is not None and str(request.brand_id) != principal.user_id:
            raise Forbidden("a brand creates ingestion keys for itself only")
        return uuid.UUID(principal.user_id)
    if request.brand_id is None:
        raise InvalidInput(
            "brand_id is required",
            [
                {
                    "field": "brand_id",
                    "message": "name the brand the key sends for",
                    "code": "missing",
                }
            ],
        )
    return request.brand_id


def _check_campaigns(
    directory: CampaignDirectory, brand_id: uuid.UUID, campaign_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(campaign_ids))
    known = directory.campaigns(str(c) for c in unique)
    errors = [
        {
            "field": f"campaign_ids.{index}",
            "message": "no such campaign of this brand",
            "code": "unknown_campaign",
        }
        for index, campaign_id in enumerate(campaign_ids)
        if (info := known.get(str(campaign_id))) is None or info.brand_id != str(brand_id)
    ]
    if errors:
        raise InvalidInput("a key is limited to campaigns of its brand", errors)
    return unique


def _view(row: IngestionKey) -> dict[str, Any]:
    return IngestionKeyView.model_validate(row, from_attributes=True, strict=False).model_dump(
        mode="json"
    )


def create_key(
    session: Session, directory: CampaignDirectory, principal: Principal, body: Any
) -> dict[str, Any]:
    _require_manager(principal)
    request = parse_model(IngestionKeyCreate, body)
    brand_id = _key_brand(principal, request)
    campaign_ids = (
        _check_campaigns(directory, brand_id, request.campaign_ids)
        if request.campaign_ids is not None
        else None
    )
    secret = secrets.token_urlsafe(32)
    row = IngestionKey(
        id=uuid.uuid4(),
        name=request.name,
        secret_sha256=_digest(secret),
        brand_id=brand_id,
        campaign_ids=campaign_ids,
        created_by=uuid.UUID(principal.user_id),
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return as_response(
        IngestionKeyCreated,
        {**_view(row), "key": f"{PREFIX}{row.id.hex}_{secret}"},
    )


def list_keys(session: Session, principal: Principal, query: Any) -> dict[str, Any]:
    """Newest first; a brand sees its own keys, an admin every key."""
    _require_manager(principal)
    params = parse_model(IngestionKeyQuery, query or {})
    conditions = []
    if principal.role == "brand":
        conditions.append(IngestionKey.brand_id == uuid.UUID(principal.user_id))
    rows = newest_first(session, IngestionKey, conditions, params.cursor, params.limit)
    sort_values = [row.created_at.isoformat() for row in rows]
    return page_by([_view(row) for row in rows], sort_values, params.limit)


def revoke_key(session: Session, principal: Principal, key_id: str) -> None:
    """A brand revokes its own keys (another brand's answer 404, like unknown ones)."""
    _require_manager(principal)
    try:
        row = session.get(IngestionKey, uuid.UUID(key_id), with_for_update=True)
    except ValueError:
        row = None
    if row is None or (principal.role == "brand" and str(row.brand_id) != principal.user_id):
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
        or row.brand_id is None
        or not hmac.compare_digest(row.secret_sha256, _digest(secret))
    ):
        raise invalid
    campaigns = frozenset(str(c) for c in row.campaign_ids) if row.campaign_ids else None
    return Sender("key", brand_id=str(row.brand_id), campaign_ids=campaigns)
