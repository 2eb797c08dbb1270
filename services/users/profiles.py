"""Brand and creator profiles: the owner's view and edits, public views, creator discovery.

A profile row is created empty (a shell holding the account's email) when auth.user_registered
arrives, or by the first PUT if that comes first. A profile is *complete* once its required
fields are set (brand: company_name; creator: display_name and portfolio_url); only complete
profiles are public or discoverable.
"""

import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dependencies.outbox import record_event
from kernel.errors import Forbidden, NotFound
from kernel.list_filters import check_bounds, matches_text, within
from kernel.pagination import as_number, keyset, page_by
from kernel.schemas import Principal, as_response, parse_model
from services.users.models import BrandProfileRow, CreatorProfileRow, outbox
from services.users.schemas import (
    BrandProfile,
    BrandProfileBody,
    BrandProfilePatch,
    CreatorProfile,
    CreatorProfileBody,
    CreatorProfilePatch,
    CreatorQuery,
    CreatorSummary,
    OwnBrandProfile,
    OwnCreatorProfile,
)

BRAND_FIELDS = tuple(BrandProfileBody.model_fields)
CREATOR_FIELDS = tuple(CreatorProfileBody.model_fields)
SORT_COLUMNS = {
    "followers": CreatorProfileRow.followers_total,
    "engagement": CreatorProfileRow.engagement_rate,
}


def _uuid(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no such {field}") from None


def _row_model(role: str) -> type[BrandProfileRow] | type[CreatorProfileRow]:
    return BrandProfileRow if role == "brand" else CreatorProfileRow


def brand_complete(row: BrandProfileRow) -> bool:
    return row.company_name is not None


def creator_complete(row: CreatorProfileRow) -> bool:
    return row.display_name is not None and row.portfolio_url is not None


def brand_view(row: BrandProfileRow) -> dict[str, Any]:
    return BrandProfile(
        id=row.user_id,
        **{name: getattr(row, name) for name in BRAND_FIELDS},
        created_at=row.created_at,
        updated_at=row.updated_at,
    ).model_dump(mode="json")


def creator_view(row: CreatorProfileRow) -> dict[str, Any]:
    return as_response(
        CreatorProfile,
        {
            "id": row.user_id,
            **{name: getattr(row, name) for name in CREATOR_FIELDS},
            "followers_total": row.followers_total,
            "engagement_rate": row.engagement_rate,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        },
    )


def own_view(row: BrandProfileRow | CreatorProfileRow) -> dict[str, Any]:
    if isinstance(row, BrandProfileRow):
        view = OwnBrandProfile.model_validate(
            {
                **brand_view(row),
                "role": "brand",
                "email": row.email,
                "complete": brand_complete(row),
            },
            strict=False,
        )
    else:
        view = OwnCreatorProfile.model_validate(
            {
                **creator_view(row),
                "role": "creator",
                "email": row.email,
                "complete": creator_complete(row),
            },
            strict=False,
        )
    return view.model_dump(mode="json")


def ensure_profile_shell(
    session: Session, user_id: str, role: str, email: str | None, display_name: str | None
) -> None:
    """On auth.user_registered: an empty profile holding the email. Idempotent."""
    if role not in ("brand", "creator"):
        return
    model = _row_model(role)
    values: dict[str, Any] = {"user_id": uuid.UUID(user_id), "email": email}
    session.execute(
        insert(model.__table__)
        .values(**values)
        .on_conflict_do_update(index_elements=["user_id"], set_={"email": email})
    )


def _require_profile_role(principal: Principal) -> None:
    if principal.role not in ("brand", "creator"):
        raise NotFound("admin accounts have no profile")


def _load_for_update(
    session: Session, principal: Principal
) -> BrandProfileRow | CreatorProfileRow | None:
    model = _row_model(principal.role)
    return session.execute(
        select(model).where(model.user_id == uuid.UUID(principal.user_id)).with_for_update()
    ).scalar_one_or_none()


def get_own_profile(session: Session, principal: Principal) -> dict[str, Any]:
    _require_profile_role(principal)
    model = _row_model(principal.role)
    row = session.get(model, uuid.UUID(principal.user_id))
    if row is None:
        # Registered a moment ago and the event has not arrived yet: an empty profile.
        ensure_profile_shell(session, principal.user_id, principal.role, None, None)
        session.flush()
        row = session.get(model, uuid.UUID(principal.user_id))
    assert row is not None
    return own_view(row)


def _current_body(row: BrandProfileRow | CreatorProfileRow | None, role: str) -> dict[str, Any]:
    if row is None:
        return {}
    fields = BRAND_FIELDS if role == "brand" else CREATOR_FIELDS
    return {name: getattr(row, name) for name in fields if getattr(row, name) is not None}


def replace_profile(session: Session, principal: Principal, body: Any) -> dict[str, Any]:
    _require_profile_role(principal)
    model = BrandProfileBody if principal.role == "brand" else CreatorProfileBody
    return _store(session, principal, parse_model(model, body))


def patch_profile(session: Session, principal: Principal, patch: Any) -> dict[str, Any]:
    _require_profile_role(principal)
    patch_model = BrandProfilePatch if principal.role == "brand" else CreatorProfilePatch
    changes = parse_model(patch_model, patch).model_dump(mode="json", exclude_unset=True)
    row = _load_for_update(session, principal)
    merged = {**_current_body(row, principal.role), **changes}
    merged = {key: value for key, value in merged.items() if value is not None}
    model = BrandProfileBody if principal.role == "brand" else CreatorProfileBody
    return _store(session, principal, parse_model(model, merged))


def _store(
    session: Session, principal: Principal, body: BrandProfileBody | CreatorProfileBody
) -> dict[str, Any]:
    values = body.model_dump(mode="json")
    if isinstance(body, CreatorProfileBody):
        values |= _derived_creator_fields(body)
    model = _row_model(principal.role)
    session.execute(
        insert(model.__table__)
        .values(user_id=uuid.UUID(principal.user_id), **values)
        .on_conflict_do_update(
            index_elements=["user_id"], set_={**values, "updated_at": func.now()}
        )
    )
    session.expire_all()
    row = session.get(model, uuid.UUID(principal.user_id))
    assert row is not None
    view = own_view(row)
    public = {k: v for k, v in view.items() if k not in ("email", "complete", "role")}
    record_event(
        session,
        outbox,
        "profile_updated",
        {"user_id": principal.user_id, "role": view["role"], "profile": public},
    )
    return view


def _derived_creator_fields(body: CreatorProfileBody) -> dict[str, Any]:
    followers = sum(p.followers for p in body.platforms)
    weighted = sum(p.followers * p.engagement_rate for p in body.platforms)
    return {
        "platform_names": sorted({p.platform for p in body.platforms}),
        "handles": " ".join(p.handle.lstrip("@") for p in body.platforms),
        "followers_total": followers,
        "engagement_rate": round(weighted / followers, 6) if followers else 0.0,
    }


def get_creator(session: Session, creator_id: str) -> dict[str, Any]:
    row = session.get(CreatorProfileRow, _uuid(creator_id, "creator"))
    if row is None or not creator_complete(row):
        raise NotFound("no such creator")
    return creator_view(row)


def get_brand(session: Session, brand_id: str) -> dict[str, Any]:
    row = session.get(BrandProfileRow, _uuid(brand_id, "brand"))
    if row is None or not brand_complete(row):
        raise NotFound("no such brand")
    return brand_view(row)


def creator_summary(session: Session, creator_id: str) -> dict[str, Any]:
    row = session.get(CreatorProfileRow, _uuid(creator_id, "creator"))
    if row is None:
        return CreatorSummary(
            id=uuid.UUID(creator_id), complete=False, followers_total=0, country=None, platforms=[]
        ).model_dump(mode="json")
    return CreatorSummary(
        id=row.user_id,
        complete=creator_complete(row),
        followers_total=row.followers_total,
        country=row.country,
        platforms=list(row.platform_names),
    ).model_dump(mode="json")


def discover_creators(session: Session, principal: Principal, query: Any) -> dict[str, Any]:
    if principal.role not in ("brand", "admin"):
        raise Forbidden("creator discovery is for brands")
    params = parse_model(CreatorQuery, query)
    check_bounds(params, "min_followers", "max_followers")
    statement = _discovery_statement(params)
    rows = session.execute(statement).scalars().all()
    sort_key = SORT_COLUMNS[params.sort.lstrip("-")].key
    sort_values = [getattr(row, sort_key) for row in rows]
    return page_by([creator_view(row) for row in rows], sort_values, params.limit)


def _discovery_statement(params: CreatorQuery) -> Select[Any]:
    row = CreatorProfileRow
    conditions = [row.display_name.is_not(None), row.portfolio_url.is_not(None)]
    if params.niche:
        conditions.append(row.niches.contains([params.niche]))
    if params.platform:
        conditions.append(row.platform_names.contains([params.platform]))
    conditions += within(row.followers_total, params.min_followers, params.max_followers)
    conditions += within(row.engagement_rate, params.min_engagement, params.max_engagement)
    if params.country:
        conditions.append(row.country == params.country)
    if params.language:
        conditions.append(row.languages.contains([params.language]))
    if params.q:
        conditions.append(matches_text(row.search_document, params.q))
    return keyset(
        row,
        conditions,
        SORT_COLUMNS[params.sort.lstrip("-")],
        row.user_id,
        descending=params.sort.startswith("-"),
        cursor=params.cursor,
        limit=params.limit,
        sort_value=as_number,
    )
