"""applications' own copy of what it needs from each campaign (`campaign_slots`), fed by
campaigns events and by RPC reads of the campaign."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, delete, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from services.applications.models import CampaignSlots


def store_campaign_snapshot(session: Session, campaign: dict[str, Any]) -> None:
    """Upsert the local copy from a campaign view or event payload, unless ours is newer."""
    values = {
        "campaign_id": uuid.UUID(campaign.get("campaign_id") or campaign["id"]),
        "brand_id": uuid.UUID(campaign["brand_id"]),
        "status": campaign["status"],
        "max_creators": campaign["max_creators"],
        "application_deadline": dt.datetime.fromisoformat(campaign["application_deadline"]),
        "min_followers": campaign["requirements"]["min_followers"],
        "countries": campaign["requirements"]["countries"],
        "platforms": campaign["platforms"],
        "deliverables": campaign.get("deliverables", []),
        "version": campaign["version"],
    }
    statement = insert(CampaignSlots).values(**values)
    updatable = {k: v for k, v in values.items() if k != "campaign_id"}
    # max_creators can only grow on a live campaign, so it never drops below accepted_count.
    # A copy of the same version without deliverables predates copies keeping them: fill it in.
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CampaignSlots.campaign_id],
            set_=updatable,
            where=or_(
                CampaignSlots.version < statement.excluded.version,
                and_(
                    CampaignSlots.version == statement.excluded.version,
                    func.jsonb_array_length(CampaignSlots.deliverables) == 0,
                ),
            ),
        )
    )


def forget_campaign(session: Session, campaign_id: str) -> None:
    """On campaigns.campaign_deleted: the copy goes (only drafts are deleted; a draft has no
    applications), so its deliverables list and progress answer 404 like the campaign."""
    session.execute(
        delete(CampaignSlots).where(
            CampaignSlots.campaign_id == uuid.UUID(campaign_id), CampaignSlots.status == "draft"
        )
    )
