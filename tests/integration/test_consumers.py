"""The idempotent-consumer helper on real PostgreSQL."""

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dependencies.consumers import claim_event
from services.applications.applications import store_campaign_snapshot
from services.applications.models import CampaignSlots, processed_events
from tests.e2e.marketplace import campaign_body

pytestmark = pytest.mark.integration


def test_an_event_is_claimed_once_and_a_rollback_releases_it(db_engine):
    payload = {"event_id": str(uuid.uuid4())}
    with Session(db_engine) as session:
        assert claim_event(session, processed_events, "x.y", payload)
        session.rollback()  # the effect failed: the claim goes with it
    with Session(db_engine) as session:
        assert claim_event(session, processed_events, "x.y", payload)
        session.commit()
    with Session(db_engine) as session:
        assert not claim_event(session, processed_events, "x.y", payload)
    with db_engine.connect() as connection:
        assert (
            connection.execute(
                text("SELECT count(*) FROM applications.processed_events")
            ).scalar_one()
            == 1
        )


def test_an_older_campaign_snapshot_never_overwrites_a_newer_one(db_engine):
    campaign = {
        **campaign_body(),
        "id": str(uuid.uuid4()),
        "brand_id": str(uuid.uuid4()),
        "status": "published",
        "version": 3,
    }
    with Session(db_engine) as session:
        store_campaign_snapshot(session, campaign)
        store_campaign_snapshot(session, {**campaign, "status": "draft", "version": 1})
        session.commit()
        stored = session.execute(select(CampaignSlots)).scalar_one()
    assert (stored.status, stored.version) == ("published", 3)
