"""Ingestion keys on the real PostgreSQL: scoped to one brand (optionally some of its campaigns),
managed by that brand or an admin, and writing nothing else (issue 10, item 15)."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from kernel.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from kernel.schemas import Principal
from services.analytics import keys
from services.analytics.directory import CampaignDirectory
from services.analytics.ingestion import check_events
from services.analytics.models import AcceptedCreator, CampaignCopy
from tests.sample_events import tracked

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
ADMIN = Principal(user_id=str(uuid.uuid4()), role="admin")


def brand() -> Principal:
    return Principal(user_id=str(uuid.uuid4()), role="brand")


def add_campaign(engine, owner: Principal, creator: str) -> str:
    campaign_id = uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add(
            CampaignCopy(
                campaign_id=campaign_id,
                brand_id=uuid.UUID(owner.user_id),
                status="published",
                currency="EUR",
                version=1,
            )
        )
        session.add(
            AcceptedCreator(
                campaign_id=campaign_id,
                creator_id=uuid.UUID(creator),
                rate_amount=100,
                rate_currency="EUR",
                accepted_at=NOW - dt.timedelta(days=1),
            )
        )
    return str(campaign_id)


def event(campaign_id: str, creator: str) -> dict:
    return tracked(campaign_id, creator, NOW - dt.timedelta(minutes=5))


@pytest.fixture
def world(db_engine):
    creator = str(uuid.uuid4())
    acme, other = brand(), brand()
    campaigns = {
        "acme_a": add_campaign(db_engine, acme, creator),
        "acme_b": add_campaign(db_engine, acme, creator),
        "other": add_campaign(db_engine, other, creator),
    }
    return acme, other, creator, campaigns


def create(engine, principal, body):
    with Session(engine) as session, session.begin():
        return keys.create_key(session, CampaignDirectory(session), principal, body)


def sender(engine, key):
    with Session(engine) as session:
        return keys.sender_for_key(session, key)


def writes(engine, key, campaign_id, creator) -> bool:
    with Session(engine) as session:
        try:
            check_events(
                keys.sender_for_key(session, key),
                {"events": [event(campaign_id, creator)]},
                CampaignDirectory(session),
                NOW,
            )
        except (InvalidInput, Unauthenticated):
            return False
    return True


def test_a_brand_creates_keys_for_its_own_campaigns_only(db_engine, world):
    acme, _other, creator, campaigns = world
    whole = create(db_engine, acme, {"name": "pipeline"})
    assert whole["brand_id"] == acme.user_id and whole["campaign_ids"] is None
    assert writes(db_engine, whole["key"], campaigns["acme_a"], creator)
    assert writes(db_engine, whole["key"], campaigns["acme_b"], creator)
    assert not writes(db_engine, whole["key"], campaigns["other"], creator)

    one = create(db_engine, acme, {"name": "one", "campaign_ids": [campaigns["acme_a"]]})
    assert one["campaign_ids"] == [campaigns["acme_a"]]
    assert writes(db_engine, one["key"], campaigns["acme_a"], creator)
    assert not writes(db_engine, one["key"], campaigns["acme_b"], creator)
    assert not writes(db_engine, one["key"], campaigns["other"], creator)


def test_refusals_when_creating(db_engine, world):
    acme, other, _creator, campaigns = world
    creator = Principal(user_id=str(uuid.uuid4()), role="creator")
    with pytest.raises(Forbidden):
        create(db_engine, creator, {"name": "x"})
    with pytest.raises(Forbidden):  # a brand cannot mint keys for another brand
        create(db_engine, acme, {"name": "x", "brand_id": other.user_id})
    with pytest.raises(InvalidInput) as foreign:
        create(db_engine, acme, {"name": "x", "campaign_ids": [campaigns["other"]]})
    assert foreign.value.errors[0]["field"] == "campaign_ids.0"
    with pytest.raises(InvalidInput):
        create(db_engine, acme, {"name": "x", "campaign_ids": [str(uuid.uuid4())]})
    with pytest.raises(InvalidInput) as missing:  # an admin names the brand
        create(db_engine, ADMIN, {"name": "x"})
    assert missing.value.errors[0]["field"] == "brand_id"
    with pytest.raises(InvalidInput):
        create(
            db_engine,
            ADMIN,
            {"name": "x", "brand_id": acme.user_id, "campaign_ids": [campaigns["other"]]},
        )
    with db_engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM analytics.ingestion_keys"))
        assert count.scalar_one() == 0


def test_an_admin_creates_for_the_brand_it_names(db_engine, world):
    acme, _other, creator, campaigns = world
    made = create(db_engine, ADMIN, {"name": "ops", "brand_id": acme.user_id})
    assert made["brand_id"] == acme.user_id
    assert writes(db_engine, made["key"], campaigns["acme_b"], creator)
    assert not writes(db_engine, made["key"], campaigns["other"], creator)


def test_listing_and_revoking_are_the_brands_own(db_engine, world):
    acme, other, _creator, _campaigns = world
    mine = [create(db_engine, acme, {"name": f"k{n}"}) for n in range(3)]
    theirs = create(db_engine, other, {"name": "theirs"})
    with Session(db_engine) as session:
        first = keys.list_keys(session, acme, {"limit": "2"})
        rest = keys.list_keys(session, acme, {"limit": "2", "cursor": first["next_cursor"]})
        everything = keys.list_keys(session, ADMIN, {})
        with pytest.raises(Forbidden):
            keys.list_keys(session, Principal(user_id=str(uuid.uuid4()), role="creator"), {})
    listed = [item["id"] for item in first["items"] + rest["items"]]
    assert listed == [key["id"] for key in reversed(mine)]  # newest first, no repeats
    assert rest["next_cursor"] is None
    assert all("key" not in item for item in first["items"])
    assert {key["id"] for key in [*mine, theirs]} <= {item["id"] for item in everything["items"]}

    with Session(db_engine) as session, session.begin(), pytest.raises(NotFound):
        keys.revoke_key(session, acme, theirs["id"])  # another brand's: as if absent
    assert sender(db_engine, theirs["key"]).brand_id == other.user_id
    with Session(db_engine) as session, session.begin():
        keys.revoke_key(session, acme, mine[0]["id"])
        keys.revoke_key(session, ADMIN, theirs["id"])
    for revoked in (mine[0], theirs):
        with pytest.raises(Unauthenticated):
            sender(db_engine, revoked["key"])


def test_keys_from_before_scoping_write_nothing(db_engine, world):
    acme, _other, creator, campaigns = world
    made = create(db_engine, acme, {"name": "legacy"})
    with db_engine.begin() as connection:  # what an unscoped key looked like
        connection.execute(
            text("UPDATE analytics.ingestion_keys SET brand_id = NULL, revoked_at = now()")
        )
    with pytest.raises(Unauthenticated):
        sender(db_engine, made["key"])
    assert not writes(db_engine, made["key"], campaigns["acme_a"], creator)
