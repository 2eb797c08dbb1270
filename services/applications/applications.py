"""Applications: a creator applies to a published campaign; the owning brand shortlists, accepts
or rejects; the creator withdraws. Accepting locks the campaign's slots row, so the number of
accepted creators never exceeds max_creators however many accepts run at once.

What applications knows about a campaign lives in its own `campaign_slots` table: written from
campaigns events (versioned, so an older event never overwrites a newer state) and refreshed by
an RPC read of the campaign at apply time (the authoritative status, deadline and requirements
at the moment a creator applies, even if an event is still in flight).
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dependencies.outbox import record_event
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import newest_first, page
from kernel.schemas import Principal, as_response, parse_model
from services.applications import deliverables
from services.applications.campaign_copy import store_campaign_snapshot
from services.applications.models import ApplicationRow, CampaignSlots, outbox
from services.applications.schemas import Application, ApplicationCreate, ApplicationQuery

PENDING = ("submitted", "shortlisted")
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    # action: (allowed from, target, who)
    "shortlist": (("submitted",), "shortlisted", "brand"),
    "accept": (PENDING, "accepted", "brand"),
    "reject": (PENDING, "rejected", "brand"),
    "withdraw": (PENDING, "withdrawn", "creator"),
}


def view(row: ApplicationRow, progress: dict[str, int] | None = None) -> dict[str, Any]:
    return as_response(
        Application,
        {
            "id": row.id,
            "campaign_id": row.campaign_id,
            "brand_id": row.brand_id,
            "creator_id": row.creator_id,
            "status": row.status,
            "pitch": row.pitch,
            "proposed_rate": {
                "amount": row.proposed_rate_amount,
                "currency": row.proposed_rate_currency,
            },
            "deliverable_plan": row.deliverable_plan,
            "deliverables_progress": progress,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        },
    )


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no such {what}") from None


def check_submission(principal: Principal, body: Any) -> ApplicationCreate:
    if principal.role != "creator":
        raise Forbidden("only creators apply to campaigns")
    return parse_model(ApplicationCreate, body)


def submit(
    session: Session,
    principal: Principal,
    campaign_id: str,
    body: Any,
    campaign: dict[str, Any],
    creator: dict[str, Any],
) -> dict[str, Any]:
    """`campaign` is the campaign as campaigns answered just now; `creator` the creator summary
    from users. Both are fetched by the caller (service.py) over RPC."""
    request = check_submission(principal, body)
    store_campaign_snapshot(session, campaign)
    # The local copy, locked: a close event handled concurrently either ran first (we see it
    # closed here) or waits for this insert and then rejects it with the other pending ones.
    slots = session.execute(
        select(CampaignSlots)
        .where(CampaignSlots.campaign_id == uuid.UUID(campaign["id"]))
        .with_for_update()
    ).scalar_one()
    session.refresh(slots)
    if slots.status != "published":
        raise Conflict(f"the campaign is {slots.status}, not open for applications")
    if dt.datetime.fromisoformat(campaign["application_deadline"]) <= dt.datetime.now(dt.UTC):
        raise Conflict("the application deadline has passed")
    _check_requirements(campaign, creator)
    if request.proposed_rate.currency != campaign["budget"]["currency"]:
        raise InvalidInput(
            "proposed_rate must be in the campaign's currency",
            [
                {
                    "field": "proposed_rate.currency",
                    "message": f"must be {campaign['budget']['currency']}",
                    "code": "currency",
                }
            ],
        )
    row = ApplicationRow(
        id=uuid.uuid4(),
        campaign_id=uuid.UUID(campaign["id"]),
        brand_id=uuid.UUID(campaign["brand_id"]),
        creator_id=uuid.UUID(principal.user_id),
        status="submitted",
        pitch=request.pitch,
        proposed_rate_amount=request.proposed_rate.amount,
        proposed_rate_currency=request.proposed_rate.currency,
        deliverable_plan=[d.model_dump(mode="json") for d in request.deliverable_plan],
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        if "uq_applications_campaign_creator" in str(exc.orig):
            raise Conflict("you have already applied to this campaign") from None
        raise
    session.refresh(row)
    result = view(row)
    record_event(session, outbox, "submitted", _event(result))
    return _with_progress(session, row)


def _check_requirements(campaign: dict[str, Any], creator: dict[str, Any]) -> None:
    problems = []
    requirements = campaign["requirements"]
    if not creator["complete"]:
        problems.append(
            {
                "field": "profile",
                "message": "complete your creator profile first",
                "code": "profile_incomplete",
            }
        )
    if creator["followers_total"] < requirements["min_followers"]:
        problems.append(
            {
                "field": "followers_total",
                "message": f"the campaign needs at least {requirements['min_followers']}",
                "code": "min_followers",
            }
        )
    if requirements["countries"] and creator["country"] not in requirements["countries"]:
        problems.append(
            {
                "field": "country",
                "message": f"the campaign is open to {', '.join(requirements['countries'])}",
                "code": "country",
            }
        )
    if not set(campaign["platforms"]) & set(creator["platforms"]):
        problems.append(
            {
                "field": "platforms",
                "message": f"the campaign runs on {', '.join(campaign['platforms'])}",
                "code": "platform",
            }
        )
    if problems:
        raise Conflict("your profile does not meet the campaign's requirements", problems)


def _event(application: dict[str, Any], previous_status: str | None = None) -> dict[str, Any]:
    payload = {
        "application_id": application["id"],
        "campaign_id": application["campaign_id"],
        "brand_id": application["brand_id"],
        "creator_id": application["creator_id"],
        "status": application["status"],
        "proposed_rate": application["proposed_rate"],
    }
    if previous_status is not None:
        payload["previous_status"] = previous_status
    return payload


def _can_read(row: ApplicationRow, principal: Principal) -> bool:
    return (
        principal.is_admin
        or (principal.role == "creator" and str(row.creator_id) == principal.user_id)
        or (principal.role == "brand" and str(row.brand_id) == principal.user_id)
    )


def get_application(session: Session, principal: Principal, application_id: str) -> dict[str, Any]:
    row = session.get(ApplicationRow, _uuid(application_id, "application"))
    if row is None or not _can_read(row, principal):
        raise NotFound("no such application")
    return _with_progress(session, row)


def _with_progress(session: Session, row: ApplicationRow) -> dict[str, Any]:
    return view(row, deliverables.progress_for(session, [row])[row.id])


def change_status(
    session: Session, principal: Principal, application_id: str, action: str
) -> dict[str, Any]:
    if action not in TRANSITIONS:
        raise NotFound(f"no such action {action}")
    allowed_from, target, actor = TRANSITIONS[action]
    app_uuid = _uuid(application_id, "application")
    row = session.get(ApplicationRow, app_uuid)
    if row is None or not _can_read(row, principal):
        raise NotFound("no such application")
    if principal.role != actor:
        raise Forbidden(f"only the {actor} can {action} an application")
    slots = None
    if action == "accept":
        # Lock order: the campaign's slots row, then the application. Every accept on a
        # campaign queues on the same row, so the count check and increment are atomic.
        slots = session.execute(
            select(CampaignSlots)
            .where(CampaignSlots.campaign_id == row.campaign_id)
            .with_for_update()
        ).scalar_one_or_none()
    row = session.execute(
        select(ApplicationRow).where(ApplicationRow.id == app_uuid).with_for_update()
    ).scalar_one()
    session.refresh(row)
    if row.status not in allowed_from:
        raise Conflict(f"cannot {action} an application that is {row.status}")
    if action == "accept":
        if slots is None or slots.status == "closed":
            raise Conflict("the campaign is closed")
        if slots.accepted_count >= slots.max_creators:
            raise Conflict(f"the campaign already has {slots.max_creators} accepted creators")
        slots.accepted_count += 1
    previous = row.status
    row.status = target
    session.flush()
    session.refresh(row)
    result = view(row)
    record_event(session, outbox, "status_changed", _event(result, previous))
    return _with_progress(session, row)


def reject_pending_on_close(session: Session, campaign_id: str) -> int:
    """The campaign closed: every submitted or shortlisted application is rejected."""
    rows = (
        session.execute(
            select(ApplicationRow)
            .where(
                ApplicationRow.campaign_id == uuid.UUID(campaign_id),
                ApplicationRow.status.in_(PENDING),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for row in rows:
        previous = row.status
        row.status = "rejected"
        session.flush()
        session.refresh(row)
        record_event(session, outbox, "status_changed", _event(view(row), previous))
    return len(rows)


def list_for_campaign(
    session: Session,
    principal: Principal,
    campaign_id: str,
    query: Any,
    campaign_brand_id: str | None,
) -> dict[str, Any]:
    """`campaign_brand_id` is the campaign's owner (from the local copy or campaigns)."""
    if campaign_brand_id is None:
        raise NotFound("no such campaign")
    if not principal.is_admin and not (
        principal.role == "brand" and principal.user_id == campaign_brand_id
    ):
        raise Forbidden("only the brand that owns this campaign sees its applications")
    return _list(session, query, ApplicationRow.campaign_id == _uuid(campaign_id, "campaign"))


def list_own(session: Session, principal: Principal, query: Any) -> dict[str, Any]:
    """A creator's applications; a brand's: those to its campaigns; admin: all."""
    if principal.role == "creator":
        condition = ApplicationRow.creator_id == uuid.UUID(principal.user_id)
    elif principal.role == "brand":
        condition = ApplicationRow.brand_id == uuid.UUID(principal.user_id)
    else:
        condition = ApplicationRow.id.is_not(None)
    return _list(session, query, condition)


def _list(session: Session, query: Any, condition: Any) -> dict[str, Any]:
    params = parse_model(ApplicationQuery, query)
    conditions = [condition]
    if params.status:
        conditions.append(ApplicationRow.status == params.status)
    rows = newest_first(session, ApplicationRow, conditions, params.cursor, params.limit)
    progress = deliverables.progress_for(session, rows)
    return page([view(row, progress[row.id]) for row in rows], params.limit, "created_at")


def campaign_owner(session: Session, campaign_id: str) -> str | None:
    slots = session.get(CampaignSlots, _uuid(campaign_id, "campaign"))
    return str(slots.brand_id) if slots else None


def mark_campaign_status(session: Session, payload: dict[str, Any]) -> None:
    """On campaigns.campaign_status_changed (and created/updated): refresh the local copy."""
    store_campaign_snapshot(session, payload)
