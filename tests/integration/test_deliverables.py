"""Deliverables on the real PostgreSQL: the state machine under row locks, revisions, progress and
the outbox events each change records; and the events relayed by the applications service."""

import datetime as dt
import uuid

import eventlet
import pytest
from nameko.events import event_handler
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from dependencies.postgres import make_engine
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from kernel.schemas import Principal
from services.applications import applications, deliverables
from services.applications.models import ApplicationRow, CampaignSlots, outbox
from services.applications.service import ApplicationsService
from tests.acting import acting_as
from tests.conftest import TEST_DATABASE_URL, wait_until

pytestmark = pytest.mark.integration

REEL = {"type": "reel", "platform": "instagram", "url": "https://instagram.com/p/abc"}


@pytest.fixture
def sessions(db_engine):
    engine = make_engine({"DATABASE_URL": TEST_DATABASE_URL}, pool_size=4)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def seed(make_session, status="accepted", campaign_status="published", plan=None):
    """A campaign copy owing 2 instagram reels and one application to it; (brand, creator, id)."""
    brand = Principal(user_id=str(uuid.uuid4()), role="brand")
    creator = Principal(user_id=str(uuid.uuid4()), role="creator")
    campaign_id, application_id = uuid.uuid4(), uuid.uuid4()
    with make_session() as session, session.begin():
        session.add(
            CampaignSlots(
                campaign_id=campaign_id,
                brand_id=uuid.UUID(brand.user_id),
                status=campaign_status,
                max_creators=5,
                accepted_count=1,
                application_deadline=dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
                deliverables=[{"type": "reel", "platform": "instagram", "quantity": 2}],
                version=1,
            )
        )
        session.add(
            ApplicationRow(
                id=application_id,
                campaign_id=campaign_id,
                brand_id=uuid.UUID(brand.user_id),
                creator_id=uuid.UUID(creator.user_id),
                status=status,
                pitch="hi",
                proposed_rate_amount=100,
                proposed_rate_currency="EUR",
                deliverable_plan=plan or [],
            )
        )
    return brand, creator, str(application_id)


def run(make_session, function, *args):
    with make_session() as session, session.begin():
        return function(session, *args)


def outbox_events(make_session):
    with make_session() as session:
        rows = session.execute(select(outbox).order_by(outbox.c.created_at)).all()
    return [(row.event_type, row.payload) for row in rows]


def test_submit_review_resubmit_approve_keeps_revisions_and_records_events(sessions):
    brand, creator, application_id = seed(sessions)
    submitted = run(sessions, deliverables.submit, creator, application_id, REEL)
    assert (submitted["status"], submitted["revision"]) == ("submitted", 1)
    changes = run(
        sessions,
        deliverables.review,
        brand,
        submitted["id"],
        "request_changes",
        {"note": "show the boots"},
    )
    assert (changes["status"], changes["review_note"]) == ("changes_requested", "show the boots")
    again = run(
        sessions,
        deliverables.resubmit,
        creator,
        submitted["id"],
        {"url": "https://instagram.com/p/def", "caption": "with boots"},
    )
    assert (again["status"], again["revision"], again["url"]) == (
        "submitted",
        2,
        "https://instagram.com/p/def",
    )
    approved = run(sessions, deliverables.review, brand, submitted["id"], "approve", None)
    assert approved["status"] == "approved"
    history = [
        (r["revision"], r["url"], r["status"], r["review_note"]) for r in approved["revisions"]
    ]
    assert history == [
        (1, "https://instagram.com/p/abc", "changes_requested", "show the boots"),
        (2, "https://instagram.com/p/def", "approved", None),
    ]
    events = outbox_events(sessions)
    assert [name for name, _ in events] == [
        "deliverable_submitted",
        "deliverable_changes_requested",
        "deliverable_submitted",
        "deliverable_approved",
    ]
    last = events[-1][1]
    assert {
        "event_id",
        "occurred_at",
        "deliverable_id",
        "application_id",
        "campaign_id",
        "brand_id",
        "creator_id",
        "revision",
        "submitted_at",
        "reviewed_at",
    } <= set(last)
    assert (last["deliverable_id"], last["revision"]) == (submitted["id"], 2)
    assert events[1][1]["note"] == "show the boots"
    view = run(sessions, applications.get_application, creator, application_id)
    assert view["deliverables_progress"] == {
        "owed": 2,
        "submitted": 1,
        "awaiting_review": 0,
        "changes_requested": 0,
        "approved": 1,
    }
    campaign = run(sessions, deliverables.campaign_progress, brand, approved["campaign_id"])
    assert (campaign["accepted_applications"], campaign["owed"], campaign["approved"]) == (1, 2, 1)


def test_transitions_outside_the_state_machine_are_conflicts(sessions):
    brand, creator, application_id = seed(sessions)
    item = run(sessions, deliverables.submit, creator, application_id, REEL)
    with pytest.raises(Conflict):  # resubmit needs changes_requested
        run(sessions, deliverables.resubmit, creator, item["id"], {"url": "https://x.example"})
    run(sessions, deliverables.review, brand, item["id"], "approve", None)
    for action, body in (("approve", None), ("request_changes", {"note": "late"})):
        with pytest.raises(Conflict):
            run(sessions, deliverables.review, brand, item["id"], action, body)
    with pytest.raises(Conflict):
        run(sessions, deliverables.resubmit, creator, item["id"], {"url": "https://x.example"})
    assert [name for name, _ in outbox_events(sessions)] == [
        "deliverable_submitted",
        "deliverable_approved",
    ]


def test_only_the_parties_act_and_only_on_an_accepted_open_application(sessions):
    brand, creator, application_id = seed(sessions)
    stranger = Principal(user_id=str(uuid.uuid4()), role="creator")
    other_brand = Principal(user_id=str(uuid.uuid4()), role="brand")
    with pytest.raises(NotFound):
        run(sessions, deliverables.submit, stranger, application_id, REEL)
    with pytest.raises(Forbidden):
        run(sessions, deliverables.submit, brand, application_id, REEL)
    item = run(sessions, deliverables.submit, creator, application_id, REEL)
    with pytest.raises(NotFound):
        run(sessions, deliverables.review, other_brand, item["id"], "approve", None)
    with pytest.raises(NotFound):
        run(sessions, deliverables.get_deliverable, stranger, item["id"])
    with pytest.raises(Forbidden):
        run(sessions, deliverables.review, creator, item["id"], "approve", None)
    with pytest.raises(NotFound):
        run(sessions, deliverables.list_for_campaign, other_brand, item["campaign_id"], {})
    # what is owed: 2 instagram reels, nothing else
    with pytest.raises(InvalidInput):
        run(sessions, deliverables.submit, creator, application_id, {**REEL, "type": "story"})
    run(sessions, deliverables.submit, creator, application_id, REEL)
    with pytest.raises(Conflict):
        run(sessions, deliverables.submit, creator, application_id, REEL)
    _, withdrawn_creator, withdrawn = seed(sessions, status="withdrawn")
    with pytest.raises(Conflict):
        run(sessions, deliverables.submit, withdrawn_creator, withdrawn, REEL)
    _, closed_creator, closed = seed(sessions, campaign_status="closed")
    with pytest.raises(Conflict):
        run(sessions, deliverables.submit, closed_creator, closed, REEL)


def test_the_applications_own_plan_takes_precedence(sessions):
    plan = [{"type": "story", "platform": "tiktok", "quantity": 1}]
    _, creator, application_id = seed(sessions, plan=plan)
    with pytest.raises(InvalidInput):
        run(sessions, deliverables.submit, creator, application_id, REEL)
    story = {**REEL, "type": "story", "platform": "tiktok"}
    assert run(sessions, deliverables.submit, creator, application_id, story)["status"] == (
        "submitted"
    )


def test_a_campaign_copy_from_before_deliverables_is_refreshed_from_campaigns(sessions):
    """Copies written before they kept deliverables say nothing is owed: the campaign's terms
    are read (an RPC in the service) and the copy of the same version filled in."""
    brand, creator, application_id = seed(sessions)
    with sessions() as session, session.begin():
        slots = session.execute(select(CampaignSlots)).scalar_one()
        slots.deliverables = []
        campaign_id, version = str(slots.campaign_id), slots.version
    reads = []

    def read_campaign(wanted):
        reads.append(wanted)
        return {
            "id": wanted,
            "brand_id": brand.user_id,
            "status": "published",
            "max_creators": 5,
            "application_deadline": "2030-01-01T00:00:00+00:00",
            "requirements": {"min_followers": 0, "countries": []},
            "platforms": ["instagram"],
            "deliverables": [{"type": "reel", "platform": "instagram", "quantity": 1}],
            "version": version,
        }

    run(sessions, deliverables.submit, creator, application_id, REEL, read_campaign)
    assert reads == [campaign_id]
    with pytest.raises(Conflict):  # the one reel the campaign owes is in
        run(sessions, deliverables.submit, creator, application_id, REEL, read_campaign)
    assert reads == [campaign_id]  # the copy knows now: no second read


def test_concurrent_reviews_serialise_on_the_row(sessions):
    """An approve and a change request racing on one submission: exactly one wins, the other is
    a 409, and the row and its revision agree."""
    brand, creator, application_id = seed(sessions)
    item = run(sessions, deliverables.submit, creator, application_id, REEL)
    first = sessions()
    first.begin()
    deliverables.review(first, brand, item["id"], "approve", None)  # holds the row lock

    def change_request():
        try:
            return run(
                sessions, deliverables.review, brand, item["id"], "request_changes", {"note": "x"}
            )
        except Conflict as exc:
            return exc

    racing = eventlet.spawn(change_request)

    def waiting_for_the_lock():
        with sessions() as session:
            return session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar_one()

    wait_until(waiting_for_the_lock)
    first.commit()
    first.close()
    assert isinstance(racing.wait(), Conflict)
    final = run(sessions, deliverables.get_deliverable, brand, item["id"])
    assert final["status"] == "approved"
    assert [r["status"] for r in final["revisions"]] == ["approved"]


def test_lists_page_with_cursors_and_filter_by_status(sessions):
    brand, creator, application_id = seed(sessions)
    first = run(sessions, deliverables.submit, creator, application_id, REEL)
    second = run(sessions, deliverables.submit, creator, application_id, REEL)
    run(sessions, deliverables.review, brand, first["id"], "approve", None)
    page = run(sessions, deliverables.list_for_application, creator, application_id, {"limit": 1})
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = run(
        sessions,
        deliverables.list_for_application,
        brand,
        application_id,
        {"limit": 1, "cursor": page["next_cursor"]},
    )
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first["id"], second["id"]}
    assert rest["next_cursor"] is None
    approved = run(
        sessions,
        deliverables.list_for_campaign,
        brand,
        first["campaign_id"],
        {"status": "approved"},
    )
    assert [d["id"] for d in approved["items"]] == [first["id"]]
    with pytest.raises(InvalidInput):
        run(sessions, deliverables.list_for_campaign, brand, first["campaign_id"], {"status": "x"})


SEEN: list[tuple[str, dict]] = []


class DeliverableListener:
    name = "deliverable_listener"

    @event_handler("applications", "deliverable_submitted")
    def submitted(self, payload):
        SEEN.append(("deliverable_submitted", payload))

    @event_handler("applications", "deliverable_approved")
    def approved(self, payload):
        SEEN.append(("deliverable_approved", payload))

    @event_handler("applications", "deliverable_changes_requested")
    def changes_requested(self, payload):
        SEEN.append(("deliverable_changes_requested", payload))


def test_the_service_relays_deliverable_events(container_factory, service_config, sessions):
    SEEN.clear()
    for service in (ApplicationsService, DeliverableListener):
        container_factory(service, service_config).start()
    brand, creator, application_id = seed(sessions)
    with (
        acting_as(service_config, creator.model_dump()) as as_creator,
        acting_as(service_config, brand.model_dump()) as as_brand,
    ):
        item = as_creator.applications.submit_deliverable(application_id, REEL)
        as_brand.applications.review_deliverable(item["id"], "request_changes", {"note": "x"})
        with pytest.raises(InvalidInput):
            as_creator.applications.submit_deliverable(application_id, {})
    with ClusterRpcProxy(service_config, timeout=20) as anonymous, pytest.raises(Unauthenticated):
        anonymous.applications.get_deliverable(item["id"])  # no token relayed: acts for nobody
    wait_until(lambda: len(SEEN) == 2)
    assert [name for name, _ in SEEN] == ["deliverable_submitted", "deliverable_changes_requested"]
    assert SEEN[1][1]["note"] == "x"
    assert SEEN[1][1]["deliverable_id"] == item["id"]
