"""Analytics on the real ClickHouse (and PostgreSQL for the de-duplication claims): 100k events
written through the ingestion code give exactly the figures computed in Python; duplicates change
nothing; a ClickHouse restart and an analytics restart during ingestion lose nothing that was
acknowledged."""

import datetime as dt
import subprocess
import uuid

import pytest
from kombu import Connection
from nameko.standalone.events import event_dispatcher
from sqlalchemy import text
from sqlalchemy.orm import Session

from dependencies.clickhouse import make_client
from kernel.config import PROJECT_ROOT
from kernel.errors import Forbidden, NotFound
from kernel.events import checked_payload
from services.analytics import ingestion, reports
from services.analytics.directory import CampaignDirectory
from services.analytics.models import AcceptedCreator, CampaignCopy
from services.analytics.service import AnalyticsService
from services.analytics.writer import AnalyticsWriter
from tests import analytics_reference as ref
from tests.acting import acting_as
from tests.conftest import TEST_CLICKHOUSE_URL, wait_until
from tests.sample_events import tracked

pytestmark = pytest.mark.integration

ADMIN = {"user_id": str(uuid.uuid4()), "role": "admin"}
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def add_campaign(engine, creators: dict[str, int]) -> tuple[str, str]:
    campaign_id, brand_id = str(uuid.uuid4()), str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        session.add(
            CampaignCopy(
                campaign_id=uuid.UUID(campaign_id),
                brand_id=uuid.UUID(brand_id),
                status="published",
                currency="EUR",
                version=2,
            )
        )
        for creator_id, rate in creators.items():
            session.add(
                AcceptedCreator(
                    campaign_id=uuid.UUID(campaign_id),
                    creator_id=uuid.UUID(creator_id),
                    rate_amount=rate,
                    rate_currency="EUR",
                    accepted_at=NOW - dt.timedelta(days=90),  # before any generated event
                )
            )
    return campaign_id, brand_id


def write(engine, clickhouse, events, check_existing=False):
    with Session(engine) as session, session.begin():
        return ingestion.write_events(session, clickhouse, events, check_existing)


def test_100k_events_give_the_figures_python_computes(db_engine, clickhouse):
    rates = {str(uuid.uuid4()): 30_000 + 5_000 * n for n in range(8)}
    campaign_id, _ = add_campaign(db_engine, rates)
    other_campaign, _ = add_campaign(db_engine, {next(iter(rates)): 1})
    events = ref.generate(campaign_id, [*rates, str(uuid.uuid4())], 95_000, NOW, days=40)
    noise = ref.generate(other_campaign, [next(iter(rates))], 5_000, NOW, days=40, seed=8)
    for start in range(0, len(events), 9_500):
        assert len(write(db_engine, clickhouse, events[start : start + 9_500])) == 9_500
    assert len(write(db_engine, clickhouse, noise)) == 5_000

    # Duplicates: a resent slice, the same ids with other content, a batch repeating itself.
    assert write(db_engine, clickhouse, events[:10_000]) == []
    assert write(db_engine, clickhouse, [{**e, "value": 1} for e in events[10_000:12_000]]) == []
    assert write(db_engine, clickhouse, events[:500] + events[:500], check_existing=True) == []
    # An insert that landed although its claims were not committed: a retry asks ClickHouse.
    landed = events[20_000:30_000]
    with db_engine.begin() as connection:
        connection.execute(
            text("DELETE FROM analytics.seen_events WHERE event_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [e["event_id"] for e in landed]},
        )
    assert write(db_engine, clickhouse, landed, check_existing=True) == []
    assert clickhouse.execute("SELECT count(), uniqExact(event_id) FROM events") == [
        (100_000, 100_000)
    ]

    with Session(db_engine) as session:
        directory = CampaignDirectory(session)
        cache = reports.ReportCache(None, 0)

        def answer(name, **query):
            return reports.report(
                name, directory, clickhouse, cache, ADMIN, campaign_id, query, NOW
            )

        hour = NOW.replace(minute=0, second=0)
        ranges = [
            (hour - dt.timedelta(days=30), hour + dt.timedelta(hours=1)),  # rollup
            (NOW - dt.timedelta(days=12, minutes=7), NOW - dt.timedelta(seconds=13)),  # raw
        ]
        for start, to in ranges:
            window = {"from": start.isoformat(), "to": to.isoformat()}
            summary = answer("summary", **window)
            assert ref.close(summary, ref.summary(events, start, to, sum(rates.values()))) == []

            by_creator = ref.breakdown(events, start, to, "creator_id")
            creators = answer("creators", metric="revenue", **window)["items"]
            assert [c["creator_id"] for c in creators] == sorted(
                set(by_creator) | set(rates),
                key=lambda c: (-by_creator.get(c, {"revenue": 0})["revenue"], c),
            )
            for item in creators:
                expected = by_creator.get(item["creator_id"], ref.base_figures([]))
                assert ref.close(item, expected) == []
                assert item["spend"] == rates.get(item["creator_id"], 0)

            by_platform = ref.breakdown(events, start, to, "platform")
            platforms = answer("platforms", metric="engagements", **window)["items"]
            assert [p["platform"] for p in platforms] == sorted(
                by_platform, key=lambda p: (-by_platform[p]["engagements"], p)
            )
            for item in platforms:
                assert ref.close(item, by_platform[item["platform"]]) == []

        series_cases = [
            ("UTC", "hour", "impressions", hour - dt.timedelta(days=3), hour),
            ("Europe/Berlin", "day", "engagements", hour - dt.timedelta(days=35), hour),
            ("Asia/Kolkata", "day", "revenue", hour - dt.timedelta(days=20), hour),
            ("America/St_Johns", "hour", "clicks", hour - dt.timedelta(days=2), hour),
            ("UTC", "day", "conversions", NOW - dt.timedelta(days=9, minutes=5), NOW),
        ]
        for tz, interval, metric, start, to in series_cases:
            query = {"from": start.isoformat(), "to": to.isoformat(), "tz": tz}
            got = answer("timeseries", interval=interval, metric=metric, **query)["points"]
            assert got == ref.series(events, start, to, tz, interval, metric), (tz, interval)


def test_deduplication_is_per_campaign(db_engine, clickhouse):
    creator = str(uuid.uuid4())
    first_campaign, _ = add_campaign(db_engine, {creator: 1})
    second_campaign, _ = add_campaign(db_engine, {creator: 1})  # another brand's
    shared_id = str(uuid.uuid4())

    def click(campaign_id):
        return tracked(campaign_id, creator, NOW, event_id=shared_id, value=0)

    assert len(write(db_engine, clickhouse, [click(first_campaign)])) == 1
    assert len(write(db_engine, clickhouse, [click(second_campaign)])) == 1
    assert write(db_engine, clickhouse, [click(second_campaign)], check_existing=True) == []
    both = [click(first_campaign), click(second_campaign)]
    assert write(db_engine, clickhouse, both) == []
    assert sorted(clickhouse.execute("SELECT toString(campaign_id) FROM events")) == sorted(
        [(first_campaign,), (second_campaign,)]
    )


def test_ids_seen_before_the_per_campaign_claims_are_checked_in_clickhouse(db_engine, clickhouse):
    creator = str(uuid.uuid4())
    campaign_id, _ = add_campaign(db_engine, {creator: 1})
    event = tracked(campaign_id, creator, NOW, value=0)
    assert len(write(db_engine, clickhouse, [event])) == 1
    with db_engine.begin() as connection:  # as the migration left a claim made before it
        connection.execute(
            text("UPDATE analytics.seen_events SET campaign_id = :legacy"),
            {"legacy": str(ingestion.LEGACY_CLAIM)},
        )
    assert write(db_engine, clickhouse, [event]) == []
    other_campaign, _ = add_campaign(db_engine, {creator: 1})
    assert len(write(db_engine, clickhouse, [{**event, "campaign_id": other_campaign}])) == 1


def test_reports_are_for_the_owner_and_admins_and_cached_briefly(
    db_engine, clickhouse, redis_client
):
    campaign_id, brand_id = add_campaign(db_engine, {})
    cache = reports.ReportCache(redis_client, 30)
    owner = {"user_id": brand_id, "role": "brand"}
    with Session(db_engine) as session:
        directory = CampaignDirectory(session)
        first = reports.report("summary", directory, clickhouse, cache, owner, campaign_id, {}, NOW)
        assert first["impressions"] == 0
        creator = str(uuid.uuid4())
        with Session(db_engine) as writer, writer.begin():
            writer.add(
                AcceptedCreator(
                    campaign_id=uuid.UUID(campaign_id),
                    creator_id=uuid.UUID(creator),
                    rate_amount=1,
                    rate_currency="EUR",
                    accepted_at=NOW - dt.timedelta(days=90),  # before any generated event
                )
            )
        write(db_engine, clickhouse, ref.generate(campaign_id, [creator], 50, NOW, days=2))
        cached = reports.report(
            "summary", directory, clickhouse, cache, owner, campaign_id, {}, NOW
        )
        assert cached == first  # served from Redis within its lifetime
        other = {"user_id": str(uuid.uuid4()), "role": "brand"}
        with pytest.raises(Forbidden):
            reports.report("summary", directory, clickhouse, cache, other, campaign_id, {}, NOW)
        cache.invalidate([campaign_id])  # what the writer does once the batch is stored
        fresh = reports.report("summary", directory, clickhouse, cache, owner, campaign_id, {}, NOW)
        assert fresh["impressions"] > 0


def test_new_data_invalidates_cached_reports_of_its_campaign_only(redis_client):
    cache = reports.ReportCache(redis_client, 30)
    answers = iter(range(100))
    read = {
        campaign: (
            lambda campaign=campaign: cache.get_or_compute(
                "summary", campaign, {}, lambda: next(answers)
            )
        )
        for campaign in ("c-1", "c-2")
    }
    first, other = read["c-1"](), read["c-2"]()
    assert (read["c-1"](), read["c-2"]()) == (first, other)  # cached
    cache.invalidate(["c-1"])
    assert read["c-1"]() != first
    assert read["c-2"]() == other


def test_an_answer_computed_while_data_lands_is_not_served_after_it(redis_client):
    cache = reports.ReportCache(redis_client, 30)

    def compute_while_a_batch_lands() -> str:
        cache.invalidate(["c-1"])
        return "computed before the batch"

    assert cache.get_or_compute("summary", "c-1", {}, compute_while_a_batch_lands) == (
        "computed before the batch"
    )
    assert cache.get_or_compute("summary", "c-1", {}, lambda: "after") == "after"


def test_a_cache_outage_does_not_fail_the_writer():
    import redis as redis_lib

    unreachable = redis_lib.Redis(port=1, socket_connect_timeout=0.2)
    reports.ReportCache(unreachable, 30).invalidate(["c-1"])  # logs, does not raise


def clickhouse_server(action: str) -> None:
    subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "clickhouse.sh"), action], check=True)


@pytest.mark.disruptive  # stops and starts the machine's ClickHouse server
def test_restarts_lose_nothing_acknowledged(
    db_engine, clickhouse, container_factory, service_config
):
    rates = {str(uuid.uuid4()): 10_000, str(uuid.uuid4()): 20_000}
    campaign_id, brand_id = add_campaign(db_engine, rates)
    brand = {"user_id": brand_id, "role": "brand"}
    config = {
        **service_config,
        "ANALYTICS": {"INSERT_BATCH_EVENTS": 2000, "INSERT_BATCH_SECONDS": 0.2},
    }
    batches = [
        ref.generate(campaign_id, list(rates), 500, NOW, days=5, seed=100 + n) for n in range(8)
    ]
    acknowledged: list[dict] = []

    def send(cluster, batch):
        answer = cluster.analytics.ingest({"events": batch})
        assert answer["accepted"] == len(batch)
        acknowledged.extend(batch)

    def stored() -> int:
        client = make_client(TEST_CLICKHOUSE_URL)
        try:
            return client.execute("SELECT count() FROM events")[0][0]
        finally:
            client.disconnect()

    container_factory(AnalyticsService, config).start()
    writer = container_factory(AnalyticsWriter, config)
    writer.start()
    try:
        with acting_as(config, brand) as cluster:
            send(cluster, batches[0])
            send(cluster, batches[1])
            wait_until(lambda: stored() == 1000, timeout=30)
            clickhouse_server("stop")
            for batch in batches[2:5]:  # acknowledged while ClickHouse is down
                send(cluster, batch)
            send(cluster, batches[1])  # and a duplicate batch
            writer.stop()  # the writer process goes away holding unwritten batches
            clickhouse_server("start")
            writer = container_factory(AnalyticsWriter, config)
            writer.start()
            for batch in batches[5:]:
                send(cluster, batch)
            wait_until(lambda: stored() == 4000, timeout=90, interval=0.5)
    finally:
        clickhouse_server("start")
    client = make_client(TEST_CLICKHOUSE_URL)
    try:
        assert client.execute("SELECT count(), uniqExact(event_id) FROM events") == [(4000, 4000)]
        ids = {row[0] for row in client.execute("SELECT toString(event_id) FROM events")}
    finally:
        client.disconnect()
    assert ids == {event["event_id"] for event in acknowledged}


def test_a_malformed_queue_message_does_not_block_ingestion(
    db_engine, clickhouse, container_factory, service_config
):
    creator = str(uuid.uuid4())
    campaign_id, brand_id = add_campaign(db_engine, {creator: 1})
    container_factory(AnalyticsService, service_config).start()
    container_factory(AnalyticsWriter, service_config).start()
    with Connection(service_config["AMQP_URI"]) as connection:
        connection.Producer().publish(
            {"not": "events"}, routing_key="analytics.ingest", serializer="json"
        )
    batch = ref.generate(campaign_id, [creator], 30, NOW, days=1)
    with acting_as(service_config, {"user_id": brand_id, "role": "brand"}) as cluster:
        cluster.analytics.ingest({"events": batch})
    wait_until(lambda: clickhouse.execute("SELECT count() FROM events")[0][0] == 30, timeout=20)


def test_funnel_from_marketplace_and_messaging_events_counts_each_event_once(
    db_engine, clickhouse, container_factory, service_config
):
    campaign_id, brand_id = add_campaign(db_engine, {})
    container = container_factory(AnalyticsService, service_config)
    container.start()
    send = event_dispatcher(service_config)
    t0 = NOW - dt.timedelta(hours=5)

    def dispatch(source, event_type, payload):
        # what a producer would send: the payload checked against its contract
        send(source, event_type, checked_payload(source, event_type, payload))

    def payload(at, **fields):
        return {"event_id": str(uuid.uuid4()), "occurred_at": at.isoformat(), **fields}

    def message(at, **fields):
        delivered = {"participants": [brand_id], "message": {"seq": fields["seq"]}, "origin": None}
        return payload(at, **delivered, **fields)

    applications = []
    for n in range(4):
        application = {
            "application_id": str(uuid.uuid4()),
            "campaign_id": campaign_id,
            "brand_id": brand_id,
            "creator_id": str(uuid.uuid4()),
            "proposed_rate": {"amount": 10_000 * (n + 1), "currency": "EUR"},
        }
        applications.append(application)
        dispatch("applications", "submitted", payload(t0, status="submitted", **application))
    for application in applications[:2]:
        accepted = payload(t0, status="accepted", previous_status="submitted", **application)
        dispatch("applications", "status_changed", accepted)
        dispatch("applications", "status_changed", accepted)  # redelivered
    talks = [(str(uuid.uuid4()), 600), (str(uuid.uuid4()), 1800), (str(uuid.uuid4()), None)]
    for conversation_id, answer_after in talks:
        first = message(
            t0,
            conversation_id=conversation_id,
            campaign_id=campaign_id,
            sender_id=brand_id,
            sender_role="brand",
            seq=1,
        )
        dispatch("messaging", "message_sent", first)
        dispatch("messaging", "message_sent", first)  # redelivered
        if answer_after is not None:
            answer = message(
                t0 + dt.timedelta(seconds=answer_after),
                conversation_id=conversation_id,
                campaign_id=campaign_id,
                sender_id=applications[0]["creator_id"],
                sender_role="creator",
                seq=2,
            )
            dispatch("messaging", "message_sent", answer)
        else:  # a system message is nobody's reply
            notice = message(
                t0 + dt.timedelta(seconds=60),
                conversation_id=conversation_id,
                campaign_id=campaign_id,
                sender_id="00000000-0000-0000-0000-000000000000",
                sender_role="system",
                seq=2,
            )
            dispatch("messaging", "message_sent", notice)
    # one deliverable: submitted, changes requested after 5 min, resubmitted, approved after
    # 15 min (redelivered); a second one submitted and not reviewed yet
    deliverable = {
        "deliverable_id": str(uuid.uuid4()),
        "application_id": applications[0]["application_id"],
        "campaign_id": campaign_id,
        "brand_id": brand_id,
        "creator_id": applications[0]["creator_id"],
        "type": "reel",
        "platform": "instagram",
        "url": "https://instagram.com/p/abc",
    }
    first_at, second_at = t0, t0 + dt.timedelta(minutes=10)
    steps = [
        ("deliverable_submitted", 1, first_at, None),
        ("deliverable_changes_requested", 1, first_at, first_at + dt.timedelta(minutes=5)),
        ("deliverable_submitted", 2, second_at, None),
        ("deliverable_approved", 2, second_at, second_at + dt.timedelta(minutes=15)),
    ]
    for event_type, revision, submitted_at, reviewed_at in steps:
        fact = payload(
            reviewed_at or submitted_at,
            **deliverable,
            status=event_type.removeprefix("deliverable_"),
            revision=revision,
            submitted_at=submitted_at.isoformat(),
            reviewed_at=reviewed_at.isoformat() if reviewed_at else None,
        )
        dispatch("applications", event_type, fact)
    dispatch("applications", event_type, fact)  # the approval, redelivered
    other = {**deliverable, "deliverable_id": str(uuid.uuid4())}
    dispatch(
        "applications",
        "deliverable_submitted",
        payload(
            t0,
            **other,
            status="submitted",
            revision=1,
            submitted_at=t0.isoformat(),
            reviewed_at=None,
        ),
    )

    def summary():
        with Session(db_engine) as session:
            return reports.report(
                "summary",
                CampaignDirectory(session),
                clickhouse,
                reports.ReportCache(None, 0),
                ADMIN,
                campaign_id,
                {},
                NOW,
            )

    expected = {
        "applications": 4,
        "accepted": 2,
        "acceptance_rate": 0.5,
        "conversations": 3,
        "replied_conversations": 2,
        "median_first_reply_seconds": 1200.0,
        "deliverables_submitted": 2,
        "deliverables_approved": 1,
        "deliverable_reviews": 2,
        "median_review_seconds": 600.0,
    }
    wait_until(lambda: summary()["funnel"] == expected, timeout=20, interval=0.2)
    assert summary()["spend"] == 30_000  # the two accepted rates, once each


def test_a_deleted_draft_has_no_reports_even_before_its_deletion_event(db_engine, clickhouse):
    campaign_id, brand_id = add_campaign(db_engine, {})
    owner = {"user_id": brand_id, "role": "brand"}
    with Session(db_engine) as session, session.begin():
        session.get(CampaignCopy, uuid.UUID(campaign_id)).status = "draft"

    def deleted(requested: str) -> dict:
        raise NotFound("no such campaign")

    def still_a_draft(requested: str) -> dict:
        return {
            "id": requested,
            "brand_id": brand_id,
            "status": "draft",
            "version": 2,
            "budget": {"amount": 100, "currency": "EUR"},
        }

    with Session(db_engine) as session:
        kept = CampaignDirectory(session, still_a_draft)
        answer = reports.report(
            "summary", kept, clickhouse, reports.ReportCache(None, 0), owner, campaign_id, {}, NOW
        )
        assert answer["campaign_id"] == campaign_id
        gone = CampaignDirectory(session, deleted)  # deleted; campaign_deleted not yet consumed
        with pytest.raises(NotFound):
            reports.report(
                "summary",
                gone,
                clickhouse,
                reports.ReportCache(None, 0),
                owner,
                campaign_id,
                {},
                NOW,
            )
        session.flush()
        assert session.get(CampaignCopy, uuid.UUID(campaign_id)) is None  # the copy is forgotten
