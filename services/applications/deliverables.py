"""Deliverables: the content an accepted application owes, submitted by its creator and reviewed
by the campaign's brand.

States: submitted -> approved | changes_requested; changes_requested -> submitted (a new
revision, by the creator). Anything else is a 409. Every transition locks the deliverable row
(SELECT ... FOR UPDATE) and checks the state under the lock, so a concurrent approve and
resubmission serialise: the second one sees the first one's result. Each submission is kept as a
revision row with the review it got.

What is owed: the application's own deliverable_plan if the creator proposed one, else the
campaign's deliverables (from the local campaign copy). A creator submits pieces of a type and
platform that is owed, up to the owed quantity.

Who: only the application's creator submits and resubmits, only the campaign's brand reviews
(the other party gets 403; anyone else 404, as if nothing existed). Nothing is submitted on an
application that is not accepted or on a closed campaign (409).

Each change is recorded in applications' outbox as deliverable_submitted, deliverable_approved or
deliverable_changes_requested.
"""

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dependencies.outbox import record_event
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import newest_first, page
from kernel.schemas import Principal, as_response, parse_model
from services.applications.campaign_copy import store_campaign_snapshot
from services.applications.models import (
    ApplicationRow,
    CampaignSlots,
    DeliverableRevisionRow,
    DeliverableRow,
    outbox,
)
from services.applications.schemas import (
    CampaignDeliverableProgress,
    ChangeRequest,
    ContentDeliverable,
    ContentDeliverableDetail,
    DeliverableProgress,
    DeliverableQuery,
    DeliverableResubmission,
    DeliverableRevision,
    DeliverableSubmission,
)

MAX_REVISIONS = 20
# action: (allowed from, target)
REVIEWS: dict[str, tuple[str, str]] = {
    "approve": ("submitted", "approved"),
    "request_changes": ("submitted", "changes_requested"),
}
EVENT_FOR_STATUS = {
    "submitted": "deliverable_submitted",
    "approved": "deliverable_approved",
    "changes_requested": "deliverable_changes_requested",
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no such {what}") from None


# --- views ---------------------------------------------------------------------------------


def _fields(row: DeliverableRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ContentDeliverable.model_fields}


def view(row: DeliverableRow) -> dict[str, Any]:
    return ContentDeliverable.model_validate(_fields(row), strict=False).model_dump(mode="json")


def detail(session: Session, row: DeliverableRow) -> dict[str, Any]:
    revisions = (
        session.execute(
            select(DeliverableRevisionRow)
            .where(DeliverableRevisionRow.deliverable_id == row.id)
            .order_by(DeliverableRevisionRow.revision)
        )
        .scalars()
        .all()
    )
    return as_response(
        ContentDeliverableDetail,
        {
            **_fields(row),
            "revisions": [
                {name: getattr(r, name) for name in DeliverableRevision.model_fields}
                for r in revisions
            ],
        },
    )


# --- what is owed, and progress --------------------------------------------------------------


def owed_plan(application: ApplicationRow, slots: CampaignSlots | None) -> Counter[tuple[str, str]]:
    """(type, platform) -> quantity owed."""
    plan = application.deliverable_plan or (slots.deliverables if slots is not None else [])
    owed: Counter[tuple[str, str]] = Counter()
    for item in plan:
        owed[(item["type"], item["platform"])] += int(item["quantity"])
    return owed


def _progress(owed: int, counts: Counter[str]) -> dict[str, int]:
    return DeliverableProgress(
        owed=owed,
        submitted=sum(counts.values()),
        awaiting_review=counts["submitted"],
        changes_requested=counts["changes_requested"],
        approved=counts["approved"],
    ).model_dump()


def progress_for(
    session: Session, applications: Iterable[ApplicationRow]
) -> dict[uuid.UUID, dict[str, int]]:
    """Progress of each application (two queries, whatever the number of applications)."""
    rows = list(applications)
    if not rows:
        return {}
    campaign_ids = {row.campaign_id for row in rows}
    slots = {
        s.campaign_id: s
        for s in session.execute(
            select(CampaignSlots).where(CampaignSlots.campaign_id.in_(campaign_ids))
        ).scalars()
    }
    counts: dict[uuid.UUID, Counter[str]] = {row.id: Counter() for row in rows}
    for application_id, status, count in session.execute(
        select(DeliverableRow.application_id, DeliverableRow.status, func.count())
        .where(DeliverableRow.application_id.in_(list(counts)))
        .group_by(DeliverableRow.application_id, DeliverableRow.status)
    ):
        counts[application_id][status] = count
    return {
        row.id: _progress(sum(owed_plan(row, slots.get(row.campaign_id)).values()), counts[row.id])
        for row in rows
    }


def campaign_progress(session: Session, principal: Principal, campaign_id: str) -> dict[str, int]:
    """The campaign's accepted applications together (its brand, admins). A campaign this
    service has not heard of yet (a fresh draft) has nothing accepted: zeros, which say nothing
    about whether it exists."""
    if session.get(CampaignSlots, _uuid(campaign_id, "campaign")) is None:
        return CampaignDeliverableProgress(
            accepted_applications=0, **_progress(0, Counter())
        ).model_dump()
    slots = _owned_campaign(session, principal, campaign_id)
    accepted = (
        session.execute(
            select(ApplicationRow).where(
                ApplicationRow.campaign_id == slots.campaign_id,
                ApplicationRow.status == "accepted",
            )
        )
        .scalars()
        .all()
    )
    counts: Counter[str] = Counter(
        dict(
            session.execute(
                select(DeliverableRow.status, func.count())
                .where(DeliverableRow.campaign_id == slots.campaign_id)
                .group_by(DeliverableRow.status)
            ).all()
        )
    )
    owed = sum(sum(owed_plan(row, slots).values()) for row in accepted)
    return CampaignDeliverableProgress(
        accepted_applications=len(accepted), **_progress(owed, counts)
    ).model_dump()


# --- access ----------------------------------------------------------------------------------


def _is_party(principal: Principal, brand_id: uuid.UUID, creator_id: uuid.UUID) -> bool:
    return (
        principal.is_admin
        or (principal.role == "creator" and str(creator_id) == principal.user_id)
        or (principal.role == "brand" and str(brand_id) == principal.user_id)
    )


def _readable(
    session: Session, principal: Principal, model: Any, row_id: Any, what: str, lock: bool
) -> Any:
    """The application or deliverable the caller is a party to (others: 404). Locked rows are
    read afresh (populate_existing), not from an identity map loaded before the lock."""
    statement = select(model).where(model.id == _uuid(row_id, what))
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row = session.execute(statement).scalar_one_or_none()
    if row is None or not _is_party(principal, row.brand_id, row.creator_id):
        raise NotFound(f"no such {what}")
    return row


def _readable_application(
    session: Session, principal: Principal, application_id: Any, lock: bool = False
) -> ApplicationRow:
    return _readable(session, principal, ApplicationRow, application_id, "application", lock)


def _readable_deliverable(
    session: Session, principal: Principal, deliverable_id: Any, lock: bool = False
) -> DeliverableRow:
    return _readable(session, principal, DeliverableRow, deliverable_id, "deliverable", lock)


def _owned_campaign(session: Session, principal: Principal, campaign_id: Any) -> CampaignSlots:
    slots = session.get(CampaignSlots, _uuid(campaign_id, "campaign"))
    if slots is None or not (
        principal.is_admin
        or (principal.role == "brand" and str(slots.brand_id) == principal.user_id)
    ):
        raise NotFound("no such campaign")
    return slots


def _require_creator(principal: Principal, creator_id: uuid.UUID, what: str) -> None:
    if principal.role != "creator" or str(creator_id) != principal.user_id:
        raise Forbidden(f"only the application's creator {what}")


def _require_brand(principal: Principal, brand_id: uuid.UUID) -> None:
    if principal.role != "brand" or str(brand_id) != principal.user_id:
        raise Forbidden("only the campaign's brand reviews deliverables")


def _open_campaign(session: Session, campaign_id: uuid.UUID) -> CampaignSlots | None:
    """The local campaign copy, share-locked so a close handled concurrently waits for this
    submission (or ran first, and then we see it closed)."""
    slots = session.execute(
        select(CampaignSlots)
        .where(CampaignSlots.campaign_id == campaign_id)
        .with_for_update(read=True)
    ).scalar_one_or_none()
    if slots is not None:
        session.refresh(slots)
        if slots.status == "closed":
            raise Conflict("the campaign is closed: nothing more can be submitted")
    return slots


# --- transitions -----------------------------------------------------------------------------


def submit(
    session: Session,
    principal: Principal,
    application_id: str,
    body: Any,
    read_campaign: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`read_campaign(campaign_id)` reads the campaign's terms from campaigns (an RPC), used only
    when the local copy does not know what the campaign owes (a copy written before copies kept
    deliverables) and the application has no plan of its own."""
    application = _readable_application(session, principal, application_id)
    _require_creator(principal, application.creator_id, "submits deliverables")
    request = parse_model(DeliverableSubmission, body)
    if read_campaign is not None and not application.deliverable_plan:
        known = session.get(CampaignSlots, application.campaign_id)
        if known is None or not known.deliverables:
            store_campaign_snapshot(session, read_campaign(str(application.campaign_id)))
    slots = _open_campaign(session, application.campaign_id)
    # Lock order: campaign copy, then application (as accepting does); submissions of one
    # application queue here, so the owed quantity is checked and used atomically.
    application = _readable_application(session, principal, application_id, lock=True)
    session.refresh(application)
    if application.status != "accepted":
        raise Conflict(f"the application is {application.status}, not accepted")
    owed = owed_plan(application, slots)
    kind = (request.type, request.platform)
    if owed[kind] == 0:
        raise InvalidInput(
            "this application owes no such deliverable",
            [
                {
                    "field": "type",
                    "message": f"no {request.type} on {request.platform} is owed; owed: "
                    + (
                        ", ".join(f"{q} {t} on {p}" for (t, p), q in sorted(owed.items()))
                        or "nothing"
                    ),
                    "code": "not_owed",
                }
            ],
        )
    already = session.execute(
        select(func.count()).where(
            DeliverableRow.application_id == application.id,
            DeliverableRow.type == request.type,
            DeliverableRow.platform == request.platform,
        )
    ).scalar_one()
    if already >= owed[kind]:
        raise Conflict(
            f"all {owed[kind]} {request.type} on {request.platform} owed are already submitted"
        )
    at = now()
    row = DeliverableRow(
        id=uuid.uuid4(),
        application_id=application.id,
        campaign_id=application.campaign_id,
        brand_id=application.brand_id,
        creator_id=application.creator_id,
        type=request.type,
        platform=request.platform,
        url=request.url,
        caption=request.caption,
        posted_at=request.posted_at,
        status="submitted",
        revision=1,
        submitted_at=at,
    )
    session.add(row)
    return _submitted(session, row)


def resubmit(
    session: Session, principal: Principal, deliverable_id: str, body: Any
) -> dict[str, Any]:
    row = _readable_deliverable(session, principal, deliverable_id)
    _require_creator(principal, row.creator_id, "resubmits deliverables")
    request = parse_model(DeliverableResubmission, body)
    _open_campaign(session, row.campaign_id)
    row = _readable_deliverable(session, principal, deliverable_id, lock=True)
    if row.status != "changes_requested":
        raise Conflict(f"cannot resubmit a deliverable that is {row.status}")
    if row.revision >= MAX_REVISIONS:
        raise Conflict(f"a deliverable has at most {MAX_REVISIONS} revisions")
    row.revision += 1
    row.url = request.url
    row.caption = request.caption
    row.posted_at = request.posted_at
    row.status = "submitted"
    row.submitted_at = now()
    row.reviewed_at = None
    return _submitted(session, row)


def review(
    session: Session, principal: Principal, deliverable_id: str, action: str, body: Any = None
) -> dict[str, Any]:
    """approve (no body) or request_changes ({note})."""
    allowed_from, target = REVIEWS[action]
    row = _readable_deliverable(session, principal, deliverable_id)
    _require_brand(principal, row.brand_id)
    note = parse_model(ChangeRequest, body).note if action == "request_changes" else None
    row = _readable_deliverable(session, principal, deliverable_id, lock=True)
    if row.status != allowed_from:
        verb = "approve" if action == "approve" else "request changes to"
        raise Conflict(f"cannot {verb} a deliverable that is {row.status}")
    at = now()
    row.status = target
    row.reviewed_at = at
    if note is not None:
        row.review_note = note
    revision = session.get(DeliverableRevisionRow, (row.id, row.revision))
    assert revision is not None
    revision.status = target
    revision.review_note = note
    revision.reviewed_at = at
    session.flush()
    return _changed(session, row)


def _submitted(session: Session, row: DeliverableRow) -> dict[str, Any]:
    """A submission or resubmission: the row, its revision as submitted, the event."""
    session.flush()
    session.add(
        DeliverableRevisionRow(
            deliverable_id=row.id,
            revision=row.revision,
            url=row.url,
            caption=row.caption,
            posted_at=row.posted_at,
            status="submitted",
            submitted_at=row.submitted_at,
        )
    )
    session.flush()
    return _changed(session, row)


def _changed(session: Session, row: DeliverableRow) -> dict[str, Any]:
    session.refresh(row)
    result = detail(session, row)
    record_event(session, outbox, EVENT_FOR_STATUS[row.status], event_payload(result))
    return result


def event_payload(deliverable: dict[str, Any]) -> dict[str, Any]:
    payload = {
        key: deliverable[key]
        for key in (
            "application_id",
            "campaign_id",
            "brand_id",
            "creator_id",
            "type",
            "platform",
            "url",
            "status",
            "revision",
            "submitted_at",
            "reviewed_at",
        )
    }
    payload["deliverable_id"] = deliverable["id"]
    if deliverable["status"] == "changes_requested":
        payload["note"] = deliverable["review_note"]
    return payload


# --- reads -----------------------------------------------------------------------------------


def get_deliverable(session: Session, principal: Principal, deliverable_id: str) -> dict[str, Any]:
    return detail(session, _readable_deliverable(session, principal, deliverable_id))


def list_for_application(
    session: Session, principal: Principal, application_id: str, query: Any
) -> dict[str, Any]:
    application = _readable_application(session, principal, application_id)
    return _list(session, query, DeliverableRow.application_id == application.id)


def list_for_campaign(
    session: Session, principal: Principal, campaign_id: str, query: Any
) -> dict[str, Any]:
    slots = _owned_campaign(session, principal, campaign_id)
    return _list(session, query, DeliverableRow.campaign_id == slots.campaign_id)


def _list(session: Session, query: Any, condition: Any) -> dict[str, Any]:
    params = parse_model(DeliverableQuery, query)
    conditions = [condition]
    if params.status:
        conditions.append(DeliverableRow.status == params.status)
    rows = newest_first(session, DeliverableRow, conditions, params.cursor, params.limit)
    return page([view(row) for row in rows], params.limit, "created_at")
