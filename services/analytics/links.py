"""Tracking links: a brand or the accepted creator makes a short public link for an application;
the gateway's `GET /t/{code}` resolves it (resolve_link) and queues a click event; shops report
orders for it (record_conversion), each order once.

Who may see an application is the applications service's business: the service passes the
application view it got for the caller (a 404 there is a 404 here). The link copies the
campaign, brand, creator and platform, so resolving a code reads one row."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import newest_first, page
from kernel.schemas import Principal, as_response, parse_model
from services.analytics import clicks
from services.analytics.ingestion import Sender
from services.analytics.link_models import LinkConversion, TrackingLink
from services.analytics.tracking_schemas import (
    ConversionCreate,
    ConversionRecorded,
    TrackingLinkCreate,
    TrackingLinkQuery,
)
from services.analytics.tracking_schemas import TrackingLink as TrackingLinkView

CODE_ATTEMPTS = 5
# Conversion event ids are derived from (brand, order): a retried postback whose first attempt
# was queued but not committed yields the same event, which the writer stores once.
CONVERSION_NAMESPACE = uuid.UUID("6f1c1f55-1d7e-4f0e-9a51-7c3c1c2b8e21")


def link_view(row: TrackingLink, base_url: str) -> dict[str, Any]:
    return as_response(
        TrackingLinkView,
        {
            "id": row.id,
            "code": row.code,
            "url": f"{base_url.rstrip('/')}/t/{row.code}",
            "application_id": row.application_id,
            "campaign_id": row.campaign_id,
            "creator_id": row.creator_id,
            "platform": row.platform,
            "destination_url": row.destination_url,
            "status": "disabled" if row.disabled_at else "active",
            "created_at": row.created_at,
            "disabled_at": row.disabled_at,
        },
    )


def _party(principal: Principal, brand_id: str, creator_id: str) -> bool:
    return (principal.role == "brand" and principal.user_id == brand_id) or (
        principal.role == "creator" and principal.user_id == creator_id
    )


def check_link_request(principal: Principal, body: Any) -> TrackingLinkCreate:
    """Validated before any RPC: bad input answers 422 without touching anything."""
    if principal.role not in ("brand", "creator"):
        raise Forbidden("tracking links are made by the campaign's brand or its creator")
    return parse_model(TrackingLinkCreate, body)


def create_link(
    session: Session,
    principal: Principal,
    application: dict[str, Any],
    request: TrackingLinkCreate,
    base_url: str,
) -> dict[str, Any]:
    """`application` is the applications service's view for this caller."""
    if not _party(principal, application["brand_id"], application["creator_id"]):
        raise NotFound("no such application")
    if application["status"] != "accepted":
        raise Conflict(
            f"tracking links are for accepted applications; this one is {application['status']}"
        )
    for _ in range(CODE_ATTEMPTS):
        row = TrackingLink(
            id=uuid.uuid4(),
            code=clicks.new_code(),
            application_id=uuid.UUID(application["id"]),
            campaign_id=uuid.UUID(application["campaign_id"]),
            brand_id=uuid.UUID(application["brand_id"]),
            creator_id=uuid.UUID(application["creator_id"]),
            platform=request.platform,
            destination_url=request.destination_url,
            created_by=uuid.UUID(principal.user_id),
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # a code already taken: astronomically rare, draw another
            continue
        session.refresh(row)
        return link_view(row, base_url)
    raise Conflict("could not allocate a link code; try again")


def list_links(
    session: Session, application: dict[str, Any], query: Any, base_url: str
) -> dict[str, Any]:
    """Newest first. `application` is the applications service's view for the caller."""
    params = parse_model(TrackingLinkQuery, query)
    conditions = [TrackingLink.application_id == uuid.UUID(application["id"])]
    rows = newest_first(session, TrackingLink, conditions, params.cursor, params.limit)
    return page([link_view(row, base_url) for row in rows], params.limit, "created_at")


def _link_for_party(session: Session, principal: Principal, link_id: str) -> TrackingLink:
    try:
        row = session.get(TrackingLink, uuid.UUID(link_id), with_for_update=True)
    except ValueError:
        row = None
    if row is None or not _party(principal, str(row.brand_id), str(row.creator_id)):
        raise NotFound("no such tracking link")
    return row


def disable_link(
    session: Session, principal: Principal, link_id: str, now: dt.datetime, base_url: str
) -> dict[str, Any]:
    """Final: a disabled link answers 404 and is never enabled again. Disabling twice is fine."""
    row = _link_for_party(session, principal, link_id)
    if row.disabled_at is None:
        row.disabled_at = now
    return link_view(row, base_url)


def resolve_link(session: Session, code: str) -> dict[str, Any]:
    """What the redirect needs for an active link's code, or NotFound (unknown or disabled)."""
    row = (
        session.execute(select(TrackingLink).where(TrackingLink.code == code)).scalars().first()
        if clicks.is_code(code)
        else None
    )
    if row is None or row.disabled_at is not None:
        raise NotFound("no such link")
    return {
        "link_id": str(row.id),
        "code": row.code,
        "campaign_id": str(row.campaign_id),
        "creator_id": str(row.creator_id),
        "platform": row.platform,
        "destination_url": row.destination_url,
    }


def _conversion_answer(row: LinkConversion, link: TrackingLink) -> dict[str, Any]:
    return as_response(
        ConversionRecorded,
        {
            "event_id": row.event_id,
            "order_id": row.order_id,
            "link_id": row.link_id,
            "campaign_id": link.campaign_id,
            "creator_id": link.creator_id,
            "value": row.value,
            "occurred_at": row.occurred_at,
        },
    )


def _unknown_link(field: str) -> InvalidInput:
    return InvalidInput(
        "no such tracking link (or not one this key may report for)",
        [{"field": field, "message": "names no tracking link", "code": "unknown_link"}],
    )


def _key_covers(sender: Sender, link: TrackingLink) -> bool:
    """A key reports for its brand's links (and only its campaigns' when it names some)."""
    if sender.brand_id != str(link.brand_id):
        return False
    return sender.campaign_ids is None or str(link.campaign_id) in sender.campaign_ids


def record_conversion(
    session: Session, sender: Sender, body: Any, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(answer, conversion event to queue or None when this order was recorded before).
    The same order again answers the same; the same order id with another link or value is a
    409. The caller queues the event before its transaction commits (rolled back if queueing
    fails, so a retry records it again)."""
    request = parse_model(ConversionCreate, body)
    field = "code" if request.code is not None else "click_id"
    code = request.code
    if request.click_id is not None:
        parsed = clicks.parse_click_id(request.click_id)
        if parsed is None:
            raise _unknown_link("click_id")
        code = parsed[0]
    link = session.execute(select(TrackingLink).where(TrackingLink.code == code)).scalars().first()
    if link is None or not _key_covers(sender, link):
        raise _unknown_link(field)
    event_id = uuid.uuid5(CONVERSION_NAMESPACE, f"{link.brand_id}/{request.order_id}")
    inserted = session.execute(
        insert(LinkConversion)
        .values(
            brand_id=link.brand_id,
            order_id=request.order_id,
            event_id=event_id,
            link_id=link.id,
            click_id=request.click_id,
            value=request.value,
            occurred_at=now,
        )
        .on_conflict_do_nothing()
        .returning(LinkConversion.order_id)
    ).first()
    row = session.get(LinkConversion, (link.brand_id, request.order_id), populate_existing=True)
    assert row is not None
    if inserted is None and (row.link_id != link.id or row.value != request.value):
        raise Conflict(
            "this order_id was already reported with another link or value",
            [{"field": "order_id", "message": "already recorded", "code": "order_conflict"}],
        )
    answer = _conversion_answer(row, link)
    if inserted is None:
        return answer, None
    event = {
        "event_id": str(event_id),
        "campaign_id": str(link.campaign_id),
        "creator_id": str(link.creator_id),
        "event_type": "conversion",
        "ts": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "platform": link.platform,
        "value": request.value,
        "country": None,
        "device": None,
    }
    return answer, event
