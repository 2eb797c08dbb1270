"""What analytics knows about campaigns: a local copy fed by campaigns and applications events
(owner, status, currency; accepted creators and their rates), with a read-through to the
campaigns service for a campaign whose events have not arrived (or predate this service)."""

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from kernel.errors import NotFound
from services.analytics.models import AcceptedCreator, CampaignCopy

MAX_LOOKUPS_PER_CALL = 20


@dataclass(frozen=True)
class CampaignInfo:
    campaign_id: str
    brand_id: str
    status: str
    currency: str


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def store_campaign(session: Session, campaign: dict[str, Any]) -> None:
    """Upsert from a campaign view or campaigns event payload, unless ours is newer."""
    values = {
        "campaign_id": uuid.UUID(campaign.get("campaign_id") or campaign["id"]),
        "brand_id": uuid.UUID(campaign["brand_id"]),
        "status": campaign["status"],
        "currency": campaign["budget"]["currency"],
        "version": campaign["version"],
    }
    statement = insert(CampaignCopy).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CampaignCopy.campaign_id],
            set_={k: v for k, v in values.items() if k != "campaign_id"},
            where=CampaignCopy.version < statement.excluded.version,
        )
    )


def forget_campaign(session: Session, campaign_id: str) -> None:
    row = session.get(CampaignCopy, uuid.UUID(campaign_id))
    if row is not None:
        session.delete(row)


def store_accepted(session: Session, application: dict[str, Any]) -> None:
    """From an applications status_changed payload whose status is accepted (final)."""
    statement = insert(AcceptedCreator).values(
        campaign_id=uuid.UUID(application["campaign_id"]),
        creator_id=uuid.UUID(application["creator_id"]),
        rate_amount=application["proposed_rate"]["amount"],
        rate_currency=application["proposed_rate"]["currency"],
        accepted_at=dt.datetime.fromisoformat(application["occurred_at"]),
    )
    session.execute(statement.on_conflict_do_nothing())


class CampaignDirectory:
    """`fetch_campaign(campaign_id)` returns the campaigns service's view or raises NotFound."""

    def __init__(
        self, session: Session, fetch_campaign: Callable[[str], dict[str, Any]] | None = None
    ) -> None:
        self.session = session
        self.fetch_campaign = fetch_campaign

    def campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignInfo]:
        wanted = {u for u in (parse_uuid(c) for c in campaign_ids) if u is not None}
        rows = (
            self.session.execute(
                select(
                    CampaignCopy.campaign_id,
                    CampaignCopy.brand_id,
                    CampaignCopy.status,
                    CampaignCopy.currency,
                ).where(CampaignCopy.campaign_id.in_(wanted))
            )
            if wanted
            else []
        )
        found = {str(row.campaign_id): _info(row) for row in rows}
        missing = sorted(str(u) for u in wanted if str(u) not in found)
        if self.fetch_campaign is not None:
            for campaign_id in missing[:MAX_LOOKUPS_PER_CALL]:
                try:
                    campaign = self.fetch_campaign(campaign_id)
                except NotFound:
                    continue
                store_campaign(self.session, campaign)
                row = self.session.get(CampaignCopy, uuid.UUID(campaign_id))
                if row is not None:
                    found[campaign_id] = _info(row)
        return found

    def campaign(self, campaign_id: str) -> CampaignInfo | None:
        info = self.campaigns([campaign_id]).get(str(parse_uuid(campaign_id)))
        if info is None or info.status != "draft" or self.fetch_campaign is None:
            return info
        # Only a draft can be deleted, and the deletion reaches this copy by event: a read right
        # after the DELETE must not find it (drafts have no data, so this costs little).
        try:
            store_campaign(self.session, self.fetch_campaign(info.campaign_id))
        except NotFound:
            forget_campaign(self.session, info.campaign_id)
            return None
        row = self.session.get(CampaignCopy, uuid.UUID(info.campaign_id), populate_existing=True)
        return _info(row) if row is not None else None

    def accepted(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dt.datetime]:
        """Of these (campaign, creator) pairs, the accepted ones and when they were accepted."""
        keys = {(uuid.UUID(c), uuid.UUID(cr)) for c, cr in pairs}
        if not keys:
            return {}
        rows = self.session.execute(
            select(
                AcceptedCreator.campaign_id,
                AcceptedCreator.creator_id,
                AcceptedCreator.accepted_at,
            ).where(tuple_(AcceptedCreator.campaign_id, AcceptedCreator.creator_id).in_(keys))
        )
        return {(str(c), str(cr)): accepted_at for c, cr, accepted_at in rows}

    def rates(self, campaign_id: str) -> dict[str, int]:
        """Accepted creators of a campaign and their agreed rates (minor units)."""
        rows = self.session.execute(
            select(AcceptedCreator.creator_id, AcceptedCreator.rate_amount).where(
                AcceptedCreator.campaign_id == uuid.UUID(campaign_id)
            )
        )
        return {str(creator): int(amount) for creator, amount in rows}


def _info(row: Any) -> CampaignInfo:
    """A CampaignCopy, or a result row of its columns (what `campaigns` selects)."""
    return CampaignInfo(str(row.campaign_id), str(row.brand_id), row.status, row.currency)
