"""Campaigns: creation by brands, the lifecycle draft -> published <-> paused -> closed, edits
(frozen terms once live), visibility, and lists (public ones cached)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from dependencies.outbox import record_event
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from kernel.list_filters import check_bounds, matches_text, within
from kernel.pagination import as_number, as_timestamp, keyset, page_by
from kernel.schemas import Principal, as_response, parse_model
from services.campaigns.cache import CampaignListCache
from services.campaigns.models import CampaignRow, outbox
from services.campaigns.schemas import (
    EDITABLE_WHEN_LIVE,
    Campaign,
    CampaignCreate,
    CampaignPatch,
    CampaignQuery,
    CampaignTerms,
)

TRANSITIONS = {
    "publish": ({"draft"}, "published"),
    "pause": ({"published"}, "paused"),
    "resume": ({"paused"}, "published"),
    "close": ({"published", "paused"}, "closed"),
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def view(row: CampaignRow) -> dict[str, Any]:
    return as_response(
        Campaign,
        {
            "id": row.id,
            "brand_id": row.brand_id,
            "status": row.status,
            "title": row.title,
            "brief": row.brief,
            "objectives": row.objectives,
            "niches": row.niches,
            "platforms": row.platforms,
            "deliverables": row.deliverables,
            "budget": {"amount": row.budget_amount, "currency": row.budget_currency},
            "compensation": row.compensation,
            "application_deadline": row.application_deadline,
            "starts_at": row.starts_at,
            "ends_at": row.ends_at,
            "max_creators": row.max_creators,
            "requirements": {"min_followers": row.min_followers, "countries": row.countries},
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "published_at": row.published_at,
        },
    )


def _columns(terms: dict[str, Any]) -> dict[str, Any]:
    """Body fields (validated, JSON mode) -> row columns."""
    columns = {k: v for k, v in terms.items() if k not in ("budget", "requirements")}
    if "budget" in terms:
        columns["budget_amount"] = terms["budget"]["amount"]
        columns["budget_currency"] = terms["budget"]["currency"]
    if "requirements" in terms:
        columns["min_followers"] = terms["requirements"]["min_followers"]
        columns["countries"] = terms["requirements"]["countries"]
    for name in ("application_deadline", "starts_at", "ends_at"):
        if name in columns:
            columns[name] = dt.datetime.fromisoformat(columns[name])
    return columns


def _record(session: Session, event_type: str, row: CampaignRow, **extra: Any) -> None:
    session.flush()
    session.refresh(row)
    snapshot = view(row)
    record_event(
        session,
        outbox,
        event_type,
        {"campaign_id": snapshot.pop("id"), **snapshot, **extra},
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound("no such campaign") from None


def _load(session: Session, campaign_id: str, *, for_update: bool = False) -> CampaignRow:
    statement = select(CampaignRow).where(CampaignRow.id == _uuid(campaign_id))
    if for_update:
        statement = statement.with_for_update()
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        raise NotFound("no such campaign")
    return row


def _visible(row: CampaignRow, principal: Principal) -> bool:
    return row.status != "draft" or principal.is_admin or _owns(row, principal)


def _owns(row: CampaignRow, principal: Principal) -> bool:
    return principal.role == "brand" and str(row.brand_id) == principal.user_id


def _load_owned(session: Session, principal: Principal, campaign_id: str) -> CampaignRow:
    """The caller's campaign, locked. Others' drafts are invisible (404); others' live ones 403."""
    row = _load(session, campaign_id, for_update=True)
    if not _visible(row, principal):
        raise NotFound("no such campaign")
    if not _owns(row, principal):
        raise Forbidden("only the brand that owns this campaign can manage it")
    return row


def create_campaign(session: Session, principal: Principal, body: Any) -> dict[str, Any]:
    if principal.role != "brand":
        raise Forbidden("only brands create campaigns")
    terms = parse_model(CampaignCreate, body).model_dump(mode="json")
    row = CampaignRow(id=uuid.uuid4(), brand_id=uuid.UUID(principal.user_id), **_columns(terms))
    session.add(row)
    _record(session, "campaign_created", row)
    return view(row)


def get_campaign(session: Session, principal: Principal, campaign_id: str) -> dict[str, Any]:
    row = _load(session, campaign_id)
    if not _visible(row, principal):
        raise NotFound("no such campaign")
    return view(row)


def update_campaign(
    session: Session,
    principal: Principal,
    campaign_id: str,
    patch: Any,
    expected_version: int | None,
) -> dict[str, Any]:
    changes = parse_model(CampaignPatch, patch).model_dump(mode="json", exclude_unset=True)
    row = _load_owned(session, principal, campaign_id)
    if expected_version is not None and expected_version != row.version:
        raise PreconditionFailed(
            f"campaign is at version {row.version}, not {expected_version}; reload and retry"
        )
    if not changes:
        return view(row)
    # Validate the merged terms first: an explicit null is a 422, never a crash in the edit policy.
    merged = view(row) | changes
    terms = parse_model(
        CampaignTerms, {name: merged[name] for name in CampaignTerms.model_fields}
    ).model_dump(mode="json")
    _check_editable(row, {k: terms[k] for k in changes})
    for name, value in _columns({k: terms[k] for k in changes}).items():
        setattr(row, name, value)
    row.version += 1
    _record(session, "campaign_updated", row)
    return view(row)


def _check_editable(row: CampaignRow, changes: dict[str, Any]) -> None:
    if row.status == "draft":
        return
    if row.status == "closed":
        raise Conflict("a closed campaign cannot be edited")
    frozen = []
    for name, value in changes.items():
        if name in EDITABLE_WHEN_LIVE:
            continue
        if name == "max_creators" and value >= row.max_creators:
            continue
        if (
            name == "application_deadline"
            and dt.datetime.fromisoformat(value) >= row.application_deadline
        ):
            continue
        frozen.append(name)
    if frozen:
        raise Conflict(
            "these terms are frozen once a campaign is published",
            [
                {"field": name, "message": f"cannot change while {row.status}", "code": "frozen"}
                for name in sorted(frozen)
            ],
        )


def delete_campaign(session: Session, principal: Principal, campaign_id: str) -> None:
    row = _load_owned(session, principal, campaign_id)
    if row.status != "draft":
        raise Conflict("only drafts can be deleted; close a published campaign instead")
    session.delete(row)
    record_event(
        session,
        outbox,
        "campaign_deleted",
        {"campaign_id": str(row.id), "brand_id": str(row.brand_id), "status": "deleted"},
    )


def change_status(
    session: Session, principal: Principal, campaign_id: str, action: str
) -> dict[str, Any]:
    if action not in TRANSITIONS:
        raise NotFound(f"no such action {action}")
    allowed_from, target = TRANSITIONS[action]
    row = _load_owned(session, principal, campaign_id)
    if row.status not in allowed_from:
        raise Conflict(f"cannot {action} a {row.status} campaign")
    if action in ("publish", "resume") and row.application_deadline <= _now():
        raise Conflict(f"cannot {action}: the application deadline has passed")
    previous = row.status
    row.status = target
    row.version += 1
    if action == "publish":
        row.published_at = func.now()
    _record(session, "campaign_status_changed", row, previous_status=previous)
    return view(row)


SORTS = {
    "newest": (CampaignRow.created_at, True),
    "deadline": (CampaignRow.application_deadline, False),
    "budget": (CampaignRow.budget_amount, False),
    "-budget": (CampaignRow.budget_amount, True),
}


def list_campaigns(
    session: Session, cache: CampaignListCache, principal: Principal, query: Any
) -> dict[str, Any]:
    params = parse_model(CampaignQuery, query)
    check_bounds(params, "min_budget", "max_budget")
    if params.mine and principal.role != "brand":
        raise Forbidden("mine=true lists a brand's own campaigns")
    public = not params.mine and not principal.is_admin
    if public and params.status not in (None, "published"):
        raise InvalidInput(
            "only published campaigns are listed publicly",
            [{"field": "status", "message": "use mine=true for your own", "code": "status"}],
        )
    if public:
        key = params.model_dump(mode="json")
        result, _ = cache.get_or_compute(key, lambda: _query(session, principal, params))
        return result
    return _query(session, principal, params)


def _query(session: Session, principal: Principal, params: CampaignQuery) -> dict[str, Any]:
    rows = session.execute(_list_statement(principal, params)).scalars().all()
    column, _ = SORTS[params.sort]
    values = [getattr(row, column.key) for row in rows]
    sort_values = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    return page_by([view(row) for row in rows], sort_values, params.limit)


def _list_statement(principal: Principal, params: CampaignQuery) -> Select[Any]:
    row = CampaignRow
    conditions = []
    if params.mine:
        conditions.append(row.brand_id == uuid.UUID(principal.user_id))
        if params.status:
            conditions.append(row.status == params.status)
    elif principal.is_admin:
        if params.status:
            conditions.append(row.status == params.status)
    else:
        conditions.append(row.status == "published")
    if params.niche:
        conditions.append(row.niches.contains([params.niche]))
    if params.platform:
        conditions.append(row.platforms.contains([params.platform]))
    conditions += within(row.budget_amount, params.min_budget, params.max_budget)
    if params.compensation:
        conditions.append(row.compensation == params.compensation)
    if params.country:
        conditions.append(or_(row.countries == [], row.countries.contains([params.country])))
    if params.q:
        conditions.append(matches_text(row.search_document, params.q))
    column, descending = SORTS[params.sort]
    timestamps = isinstance(column.type, type(row.created_at.type))
    return keyset(
        row,
        conditions,
        column,
        row.id,
        descending=descending,
        cursor=params.cursor,
        limit=params.limit,
        sort_value=as_timestamp if timestamps else as_number,
    )


def campaign_for_applications(session: Session, campaign_id: str) -> dict[str, Any]:
    """Authoritative terms for the applications service (RPC at apply time)."""
    return view(_load(session, campaign_id))
