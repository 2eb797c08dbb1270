"""Analytics through the gateway: a brand ingests events for its campaign and sees exactly the
figures computed in Python from the same events; bad batches leave nothing behind; duplicates
count once; ingestion keys."""

import datetime as dt
import uuid

import pytest

from tests import analytics_reference as ref
from tests.conftest import wait_until
from tests.e2e.marketplace import (
    accepted_application,
    admin,
    apply,
    call,
    make_brand,
    make_creator,
    published_campaign,
    signup,
)

pytestmark = pytest.mark.e2e

A = "/api/v1"


def ingest(api, sender, events, headers=None):
    return call(api, "POST", f"{A}/analytics/events", sender, {"events": events}, headers=headers)


def ingest_when_known(api, sender, events, headers=None):
    """The first batch after an accept waits for analytics to learn of it (an event away)."""
    answers = []

    def accepted():
        answers.append(ingest(api, sender, events, headers))
        return answers[-1].status_code == 202

    wait_until(accepted, timeout=20, interval=0.2)
    return answers[-1]


def report(api, user, campaign_id, name, **params):
    response = call(
        api, "GET", f"{A}/campaigns/{campaign_id}/analytics/{name}", user, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def stored(api, user, campaign_id, impressions, **params):
    return wait_until(
        lambda: (
            (s := report(api, user, campaign_id, "summary", **params))["impressions"] == impressions
            and s
        ),
        timeout=30,
        interval=0.2,
    )


@pytest.fixture
def marketplace(api):
    brand = make_brand(api)
    campaign = published_campaign(api, brand)
    creators = [make_creator(api) for _ in range(3)]
    accepted_application(api, brand, creators[0], campaign["id"], 40_000)
    accepted_application(api, brand, creators[1], campaign["id"], 55_000)
    assert apply(api, creators[2], campaign["id"]).status_code == 201  # applied, not accepted
    return brand, campaign["id"], creators


def test_brand_sees_exact_figures_for_its_campaign(api, marketplace):
    brand, campaign_id, creators = marketplace
    now = dt.datetime.now(dt.UTC)
    accepted_ids = [creators[0].id, creators[1].id]
    events = ref.generate(campaign_id, accepted_ids, 3000, now, days=10, seed=11)
    ingest_when_known(api, brand, events[:1000])
    for start in range(1000, 3000, 1000):
        assert ingest(api, brand, events[start : start + 1000]).status_code == 202
    own = ref.generate(campaign_id, [creators[0].id], 50, now, days=3, seed=12)
    answer = ingest(api, creators[0], own)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 50
    events += own

    to = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = to - dt.timedelta(days=30)
    expected = ref.summary(events, start, to, spend=95_000)
    summary = stored(api, brand, campaign_id, expected["impressions"])
    assert ref.close(summary, expected) == []
    assert summary["currency"] == "EUR"
    funnel = summary["funnel"]
    assert (funnel["applications"], funnel["accepted"]) == (3, 2)
    assert funnel["acceptance_rate"] == pytest.approx(2 / 3)

    week = {"from": (to - dt.timedelta(days=7)).isoformat(), "to": to.isoformat()}
    series = report(
        api, brand, campaign_id, "timeseries", tz="Europe/Berlin", metric="engagements", **week
    )
    lo, hi = to - dt.timedelta(days=7), to
    assert series["points"] == ref.series(events, lo, hi, "Europe/Berlin", "day", "engagements")

    creators_report = report(api, brand, campaign_id, "creators", metric="clicks")
    by_creator = ref.breakdown(events, start, to, "creator_id")
    assert [item["creator_id"] for item in creators_report["items"]] == sorted(
        by_creator, key=lambda c: (-by_creator[c]["clicks"], c)
    )
    for item in creators_report["items"]:
        assert ref.close(item, by_creator[item["creator_id"]]) == []
        assert item["spend"] == {creators[0].id: 40_000, creators[1].id: 55_000}[item["creator_id"]]

    platforms = report(api, brand, campaign_id, "platforms")
    by_platform = ref.breakdown(events, start, to, "platform")
    assert {item["platform"] for item in platforms["items"]} == set(by_platform)
    for item in platforms["items"]:
        assert ref.close(item, by_platform[item["platform"]]) == []

    other_brand = make_brand(api)
    response = call(api, "GET", f"{A}/campaigns/{campaign_id}/analytics/summary", other_brand)
    assert response.status_code == 403
    assert "traceback" not in response.text.lower()


def test_a_rejected_batch_leaves_no_trace(api, marketplace):
    brand, campaign_id, creators = marketplace
    now = dt.datetime.now(dt.UTC)
    good = ref.generate(campaign_id, [creators[0].id], 5, now, days=1, seed=21)
    ingest_when_known(api, brand, good[:1])
    bad = [
        good[1],
        {**good[2], "ts": (now + dt.timedelta(hours=1)).isoformat()},
        {**good[3], "ts": (now - dt.timedelta(days=91)).isoformat()},
        {**good[4], "campaign_id": str(uuid.uuid4())},
        {**ref.generate(campaign_id, [creators[2].id], 1, now, seed=22)[0]},
        {**good[1], "event_id": str(uuid.uuid4()), "value": "12"},
        {**good[1], "event_id": str(uuid.uuid4()), "surprise": True},
    ]
    answer = ingest(api, brand, bad)
    assert answer.status_code == 422
    problem = answer.json()
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    codes = {(e["field"], e["code"]) for e in problem["errors"]}
    assert {
        ("events.1.ts", "ts_in_future"),
        ("events.2.ts", "ts_too_old"),
        ("events.3.campaign_id", "unknown_campaign"),
        ("events.4.creator_id", "creator_not_on_campaign"),
    } <= codes
    assert any(field.startswith("events.5.value") for field, _ in codes)
    assert any(field.startswith("events.6") for field, _ in codes)
    assert not any(field.startswith("events.0") for field, _ in codes)

    # The good event of the rejected batch is never stored: a later batch lands alone.
    marker = ref.generate(campaign_id, [creators[0].id], 40, now, days=1, seed=23)
    assert ingest(api, brand, marker).status_code == 202
    expected = ref.summary(good[:1] + marker, now - dt.timedelta(days=30), now, spend=95_000)
    summary = stored(api, brand, campaign_id, expected["impressions"])
    assert summary["clicks"] == expected["clicks"]
    assert summary["conversions"] == expected["conversions"]
    assert summary["revenue"] == expected["revenue"]


def test_duplicates_count_once(api, marketplace):
    brand, campaign_id, creators = marketplace
    now = dt.datetime.now(dt.UTC)
    events = ref.generate(campaign_id, [creators[0].id, creators[1].id], 400, now, seed=31)
    ingest_when_known(api, brand, events)
    assert ingest(api, brand, events).status_code == 202  # the whole batch again
    assert ingest(api, brand, events[:100] + events[:100]).status_code == 202  # repeated inside
    # A resend of a known id with other content is still the same event.
    assert ingest(api, brand, [{**events[0], "event_type": "conversion", "value": 999}]).ok
    marker = ref.generate(campaign_id, [creators[0].id], 30, now, seed=32)
    assert ingest(api, brand, marker).status_code == 202
    everything = events + marker
    expected = ref.summary(everything, now - dt.timedelta(days=30), now, spend=95_000)
    summary = stored(api, brand, campaign_id, expected["impressions"])
    assert ref.close(summary, {k: expected[k] for k in ("clicks", "revenue", "engagements")}) == []


def test_ingestion_keys(api, marketplace):
    brand, campaign_id, creators = marketplace
    operator = admin(api)
    keys_path = f"{A}/analytics/ingestion-keys"
    created = call(api, "POST", keys_path, operator, {"name": "tracker", "brand_id": brand.id})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    now = dt.datetime.now(dt.UTC)
    events = ref.generate(campaign_id, [creators[0].id], 20, now, seed=41)
    answer = ingest_when_known(api, None, events, headers={"X-Ingestion-Key": key})
    assert answer.json()["accepted"] == 20

    # The brand manages its own keys; a key of another brand writes nothing here.
    own = call(api, "POST", keys_path, brand, {"name": "own", "campaign_ids": [campaign_id]})
    assert own.status_code == 201, own.text
    assert own.json()["brand_id"] == brand.id
    other_brand = signup(api, "brand")
    foreign = call(api, "POST", keys_path, other_brand, {"name": "other brand's"}).json()
    wrong_brand = ingest(api, None, events[:1], headers={"X-Ingestion-Key": foreign["key"]})
    assert wrong_brand.status_code == 422
    assert wrong_brand.json()["errors"][0]["code"] == "unknown_campaign"
    assert call(api, "POST", keys_path, creators[0], {"name": "x"}).status_code == 403
    not_mine = call(api, "POST", keys_path, other_brand, {"name": "x", "brand_id": brand.id})
    assert not_mine.status_code == 403
    assert call(api, "POST", keys_path, operator, {"name": "x"}).status_code == 422

    listed = call(api, "GET", keys_path, brand).json()
    assert {item["id"] for item in listed["items"]} == {created.json()["id"], own.json()["id"]}
    assert listed["next_cursor"] is None
    assert all("key" not in item for item in listed["items"])
    everything = call(api, "GET", keys_path, operator).json()["items"]
    assert foreign["id"] in {item["id"] for item in everything}
    assert call(api, "DELETE", f"{keys_path}/{foreign['id']}", brand).status_code == 404
    revoked = call(api, "DELETE", f"{keys_path}/{created.json()['id']}", brand)
    assert revoked.status_code == 204
    assert ingest(api, None, events, headers={"X-Ingestion-Key": key}).status_code == 401
    assert ingest(api, None, events, headers={"X-Ingestion-Key": "ik_nonsense"}).status_code == 401
    summary = stored(api, brand, campaign_id, ref.metric(events, "impressions"))
    assert summary["clicks"] == ref.metric(events, "clicks")


def test_time_to_first_reply_comes_from_the_chat(api, marketplace):
    """messaging's message_sent events feed the funnel: the brand writes, the creator answers."""
    brand, campaign_id, creators = marketplace
    conversations = call(api, "GET", f"{A}/conversations", brand).json()["items"]
    conversation = next(c for c in conversations if creators[0].id in c["participants"])
    path = f"{A}/conversations/{conversation['id']}/messages"
    for sender, text in [(brand, "Welcome aboard"), (creators[0], "Thanks!")]:
        sent = call(api, "POST", path, sender, {"client_msg_id": str(uuid.uuid4()), "body": text})
        assert sent.status_code == 201, sent.text

    funnel = wait_until(
        lambda: (
            (f := report(api, brand, campaign_id, "summary")["funnel"])["replied_conversations"]
            and f
        ),
        timeout=20,
        interval=0.2,
    )
    assert (funnel["conversations"], funnel["replied_conversations"]) == (1, 1)
    assert funnel["median_first_reply_seconds"] >= 0
