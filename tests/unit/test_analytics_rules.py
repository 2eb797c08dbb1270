"""Analytics domain logic without I/O: figures and their definitions, ranges and time-zone
buckets, who may send which events, the writer's batching policy, funnel facts."""

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dependencies.batch_consumer import BatchBuffer, BatchConsumer
from dependencies.health import consumers_ready
from kernel.errors import InvalidInput, MalformedJson
from services.analytics import figures, warehouse
from services.analytics.directory import CampaignInfo
from services.analytics.funnel import deliverable_fact, funnel_fact
from services.analytics.ingestion import (
    Sender,
    canonical_uuids,
    check_events,
    dump_events,
    event_keys,
    first_of_each,
)
from services.analytics.schemas import MAX_EVENT_VALUE, AnalyticsQuery
from tests.sample_events import tracked

NOW = dt.datetime(2026, 11, 25, 12, 30, tzinfo=dt.UTC)
BRAND, CREATOR, OTHER_CREATOR = (str(uuid.uuid4()) for _ in range(3))
CAMPAIGN = str(uuid.uuid4())


def test_figures_follow_the_documented_definitions():
    counts = {
        "impression": (1000, 0),
        "click": (50, 0),
        "like": (30, 0),
        "comment": (5, 0),
        "share": (3, 0),
        "save": (2, 0),
        "follow": (7, 0),
        "view": (400, 0),
        "conversion": (4, 12_000),
    }
    summary = figures.summary(counts, spend=20_000)
    assert summary["engagements"] == 40  # likes + comments + shares + saves; not follows
    assert summary["ctr"] == 0.05
    assert summary["engagement_rate"] == 0.04
    assert summary["revenue"] == 12_000
    assert summary["cpm"] == 20_000.0
    assert summary["cpc"] == 400.0
    assert summary["cpe"] == 500.0
    assert summary["roi"] == -0.4
    assert (summary["follows"], summary["views"]) == (7, 400)


def test_ratios_without_a_denominator_are_null():
    summary = figures.summary({}, spend=0)
    assert [summary[k] for k in ("ctr", "engagement_rate", "cpm", "cpc", "cpe", "roi")] == [
        None
    ] * 6


def test_funnel_measures_the_first_answer_from_the_other_side():
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    firsts = [
        ("c1", "brand", t0),
        ("c1", "creator", t0 + dt.timedelta(minutes=10)),
        ("c2", "creator", t0),
        ("c2", "brand", t0 + dt.timedelta(minutes=30)),
        ("c3", "brand", t0),  # no answer yet
    ]
    result = figures.funnel(applications=4, accepted=1, first_messages=firsts)
    assert result == {
        "applications": 4,
        "accepted": 1,
        "acceptance_rate": 0.25,
        "conversations": 3,
        "replied_conversations": 2,
        "median_first_reply_seconds": 1200.0,
        "deliverables_submitted": 0,
        "deliverables_approved": 0,
        "deliverable_reviews": 0,
        "median_review_seconds": None,
    }


def test_funnel_counts_deliverables_and_the_median_review_time():
    result = figures.funnel(1, 1, [], deliverables=(3, 1, [60.0, 300.0, 3600.0]))
    assert (
        result["deliverables_submitted"],
        result["deliverables_approved"],
        result["deliverable_reviews"],
        result["median_review_seconds"],
    ) == (3, 1, 3, 300.0)


def test_range_defaults_to_the_30_days_up_to_the_next_hour():
    start, to = figures.resolve_range(AnalyticsQuery(), NOW)
    assert to == dt.datetime(2026, 11, 25, 13, tzinfo=dt.UTC)
    assert to - start == dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-11-20T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "from"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2026-01-10T00:00:00Z"}, "from"),
        ({"from": "2026-09-01T00:00:00Z", "interval": "hour"}, "interval"),
    ],
)
def test_bad_ranges_are_refused(query, field):
    with pytest.raises(InvalidInput) as error:
        figures.resolve_range(AnalyticsQuery.model_validate(query), NOW)
    assert error.value.errors[0]["field"] == field


def test_unknown_time_zone_is_refused():
    with pytest.raises(InvalidInput):
        figures.zone("Mars/Olympus_Mons")


def test_day_buckets_follow_local_midnight_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    start = dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC)
    to = dt.datetime(2026, 10, 27, tzinfo=dt.UTC)
    starts = figures.bucket_starts(start, to, berlin, "day")
    assert [s.astimezone(berlin).hour for s in starts] == [0, 0, 0, 0]
    assert starts[2] - starts[1] == dt.timedelta(hours=25)  # the day the clocks go back


def test_series_is_zero_filled_and_bucketed_in_the_zone():
    kolkata = ZoneInfo("Asia/Kolkata")
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    to = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    granules = [
        (dt.datetime(2026, 11, 1, 18, 15, tzinfo=dt.UTC), "like", 2, 0),  # 23:45 local, Nov 1
        (dt.datetime(2026, 11, 1, 18, 30, tzinfo=dt.UTC), "save", 3, 0),  # 00:00 local, Nov 2
        (dt.datetime(2026, 11, 1, 18, 30, tzinfo=dt.UTC), "impression", 9, 0),
    ]
    points = figures.series(granules, start, to, kolkata, "day", "engagements")
    assert [p["start"][:10] for p in points] == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
    ]
    assert [p["value"] for p in points] == [2, 3, 0, 0]


def test_rollup_is_used_only_for_whole_hours():
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    to = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    assert figures.hour_aligned(start, to)
    assert not figures.hour_aligned(start + dt.timedelta(minutes=1), to)
    assert figures.whole_hour_offsets(ZoneInfo("Europe/Berlin"), start, to)
    assert not figures.whole_hour_offsets(ZoneInfo("Asia/Kolkata"), start, to)


def test_breakdowns_sort_largest_first_with_stable_ties():
    items = [{"k": "b", "m": 1}, {"k": "a", "m": 1}, {"k": "c", "m": 5}]
    assert [i["k"] for i in figures.sort_items(items, "m", "k")] == ["c", "a", "b"]


class FakeDirectory:
    def __init__(self, campaigns, accepted):
        self._campaigns = campaigns
        self._accepted = accepted

    def campaigns(self, ids):
        return {c: self._campaigns[c] for c in ids if c in self._campaigns}

    def accepted(self, pairs):
        return {pair: self._accepted[pair] for pair in pairs if pair in self._accepted}


ACCEPTED_AT = NOW - dt.timedelta(days=30)
DIRECTORY = FakeDirectory(
    {CAMPAIGN: CampaignInfo(CAMPAIGN, BRAND, "published", "EUR")},
    {(CAMPAIGN, CREATOR): ACCEPTED_AT},
)


def event(**overrides):
    return {**tracked(CAMPAIGN, CREATOR, NOW - dt.timedelta(hours=1)), **overrides}


def codes(sender, events):
    with pytest.raises(InvalidInput) as error:
        check_events(sender, {"events": events}, DIRECTORY, NOW)
    return {(e["field"], e["code"]) for e in error.value.errors}


def test_the_brand_and_accepted_creators_may_send_events():
    assert len(check_events(Sender("brand", BRAND), {"events": [event()]}, DIRECTORY, NOW)) == 1
    own = check_events(Sender("creator", CREATOR), {"events": [event()]}, DIRECTORY, NOW)
    assert str(own[0].creator_id) == CREATOR
    assert own[0].value == 0
    assert check_events(Sender("key", brand_id=BRAND), {"events": [event()]}, DIRECTORY, NOW)
    scoped = Sender("key", brand_id=BRAND, campaign_ids=frozenset({CAMPAIGN}))
    assert check_events(scoped, {"events": [event()]}, DIRECTORY, NOW)


def test_every_bad_event_is_named_and_the_batch_refused():
    found = codes(
        Sender("brand", BRAND),
        [
            event(),
            event(ts=(NOW + dt.timedelta(minutes=6)).isoformat()),
            event(ts=(NOW - dt.timedelta(days=90, minutes=1)).isoformat()),
            event(campaign_id=str(uuid.uuid4())),
            event(creator_id=OTHER_CREATOR),
            event(event_type="purchase"),
            event(value=-1),
            event(ts="2026-11-25T10:00:00"),  # no offset
        ],
    )
    assert {
        ("events.1.ts", "ts_in_future"),
        ("events.2.ts", "ts_too_old"),
        ("events.3.campaign_id", "unknown_campaign"),
        ("events.4.creator_id", "creator_not_on_campaign"),
    } <= found
    fields = {field for field, _ in found}
    assert {"events.5.event_type", "events.6.value"} <= fields
    assert any(f.startswith("events.7.ts") for f in fields)
    assert not any(f.startswith("events.0.") for f in fields)


def test_events_cannot_predate_the_creators_acceptance():
    before = (ACCEPTED_AT - dt.timedelta(minutes=6)).isoformat()
    senders = (Sender("brand", BRAND), Sender("creator", CREATOR), Sender("key", brand_id=BRAND))
    for sender in senders:
        assert codes(sender, [event(ts=before)]) == {("events.0.ts", "ts_before_acceptance")}
    skewed = event(ts=(ACCEPTED_AT - dt.timedelta(minutes=4)).isoformat())
    assert check_events(Sender("creator", CREATOR), {"events": [skewed]}, DIRECTORY, NOW)


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"event_type": "conversion", "value": MAX_EVENT_VALUE + 1}, "value", "less_than_equal"),
        ({"event_type": "conversion", "value": -1}, "value", "greater_than_equal"),
        ({"event_type": "conversion", "value": 1.5}, "value", "int_type"),
        ({"event_type": "click", "value": 100}, "value", "value_not_conversion"),
        ({"event_id": "x" * 37}, "event_id", "uuid_parsing"),
        ({"ts": "1999-12-31T23:59:59Z"}, "ts", "value_error"),
        ({"country": "Germany"}, "country", "string_pattern_mismatch"),
    ],
)
def test_event_values_have_bounds(overrides, field, code):
    found = codes(Sender("brand", BRAND), [event(), event(**overrides)])
    assert (f"events.1.{field}", code) in found
    assert not any(f.startswith("events.0.") for f, _ in found)


def test_the_largest_documented_value_is_accepted():
    biggest = event(event_type="conversion", value=MAX_EVENT_VALUE)
    assert check_events(Sender("brand", BRAND), {"events": [biggest]}, DIRECTORY, NOW)


def test_clock_skew_of_five_minutes_is_accepted():
    skewed = event(ts=(NOW + dt.timedelta(minutes=4)).isoformat())
    assert check_events(Sender("brand", BRAND), {"events": [skewed]}, DIRECTORY, NOW)


def test_others_may_not_send_for_a_campaign():
    assert codes(Sender("brand", str(uuid.uuid4())), [event()]) == {
        ("events.0.campaign_id", "unknown_campaign")
    }
    assert codes(Sender("creator", CREATOR), [event(creator_id=OTHER_CREATOR)]) == {
        ("events.0.creator_id", "not_own_events")
    }
    assert codes(Sender("creator", OTHER_CREATOR), [event(creator_id=OTHER_CREATOR)]) == {
        ("events.0.creator_id", "creator_not_on_campaign")
    }
    assert codes(Sender("key", brand_id=str(uuid.uuid4())), [event()]) == {
        ("events.0.campaign_id", "unknown_campaign")
    }
    other_campaigns = frozenset({str(uuid.uuid4())})
    assert codes(Sender("key", brand_id=BRAND, campaign_ids=other_campaigns), [event()]) == {
        ("events.0.campaign_id", "unknown_campaign")
    }
    assert codes(Sender("key"), [event()]) == {("events.0.campaign_id", "unknown_campaign")}


@pytest.mark.parametrize(
    "body",
    [{}, {"events": []}, {"events": "x"}, [], {"events": [{}] * 1001}, {"events": [], "x": 1}],
)
def test_malformed_batches_are_refused(body):
    with pytest.raises(InvalidInput):
        check_events(Sender("brand", BRAND), body, DIRECTORY, NOW)


def test_a_batch_keeps_the_first_of_repeated_ids():
    first = event()
    again = {**first, "event_type": "like"}
    batch = [first, again, event()]
    unique, keys = first_of_each(batch, event_keys(batch))
    assert unique[0] is first and unique == [first, batch[2]] and keys == event_keys(unique)
    assert first_of_each([first, again], event_keys([first, again]))[0] == [first]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_buffer_flushes_at_size_or_age_whichever_first():
    clock = Clock()
    buffer = BatchBuffer(max_events=100, max_messages=10, max_wait=1.0, clock=clock)
    assert buffer.time_left() is None and not buffer.ready()
    buffer.add("a", 60)
    assert not buffer.ready()
    clock.now += 0.4
    assert buffer.time_left() == pytest.approx(0.6)
    buffer.add("b", 40)
    assert buffer.ready()  # 100 events
    assert buffer.take() == ["a", "b"]
    buffer.add("c", 1)
    clock.now += 1.0
    assert buffer.ready()  # waited long enough
    buffer.take()
    for n in range(10):
        buffer.add(n, 1)
    assert buffer.ready()  # 10 messages


def payload(**fields):
    return {"event_id": str(uuid.uuid4()), "occurred_at": NOW.isoformat(), **fields}


def test_funnel_facts_from_other_services_events():
    application = payload(
        application_id=str(uuid.uuid4()),
        campaign_id=CAMPAIGN,
        brand_id=BRAND,
        creator_id=CREATOR,
        status="accepted",
        previous_status="shortlisted",
    )
    assert funnel_fact("applications", "status_changed", application)["kind"] == (
        "application_accepted"
    )
    assert funnel_fact("applications", "status_changed", {**application, "status": "rejected"}) is (
        None
    )
    submitted = funnel_fact("applications", "submitted", {**application, "status": "submitted"})
    assert (submitted["kind"], submitted["actor_id"]) == ("application_submitted", CREATOR)
    published = payload(campaign_id=CAMPAIGN, brand_id=BRAND, status="published")
    assert funnel_fact("campaigns", "campaign_status_changed", published) is None
    published["previous_status"] = "draft"
    assert funnel_fact("campaigns", "campaign_status_changed", published)["kind"] == (
        "campaign_published"
    )
    resumed = {**published, "previous_status": "paused"}
    assert funnel_fact("campaigns", "campaign_status_changed", resumed) is None
    message = payload(
        conversation_id=str(uuid.uuid4()),
        campaign_id=CAMPAIGN,
        sender_id=CREATOR,
        sender_role="creator",
        seq=1,
    )
    fact = funnel_fact("messaging", "message_sent", message)
    assert (fact["subject_id"], fact["actor_role"]) == (message["conversation_id"], "creator")
    assert funnel_fact("messaging", "message_sent", {**message, "campaign_id": None}) is None
    system = {**message, "sender_role": "system"}
    assert funnel_fact("messaging", "message_sent", system) is None  # not anybody's reply


def test_deliverable_facts_time_a_review_from_the_revision_it_reviews():
    submitted_at, reviewed_at = "2026-11-01T10:00:00+00:00", "2026-11-01T10:05:00+00:00"
    base = payload(
        deliverable_id=str(uuid.uuid4()),
        application_id=str(uuid.uuid4()),
        campaign_id=CAMPAIGN,
        brand_id=BRAND,
        creator_id=CREATOR,
        revision=2,
        submitted_at=submitted_at,
        reviewed_at=None,
        status="submitted",
    )
    submitted = deliverable_fact("deliverable_submitted", base)
    assert (submitted["kind"], submitted["occurred_at"]) == ("deliverable_submitted", submitted_at)
    reviewed = {**base, "status": "approved", "reviewed_at": reviewed_at}
    approved = deliverable_fact("deliverable_approved", reviewed)
    assert (approved["occurred_at"], approved["submitted_at"]) == (reviewed_at, submitted_at)
    assert deliverable_fact("something_else", base) is None


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-11-01T00:00:00", "yesterday"])
def test_query_times_must_be_rfc3339_with_an_offset(value):
    with pytest.raises(ValidationError):
        AnalyticsQuery.model_validate({"from": value})


def outcome(body):
    try:
        return [e.model_dump(mode="json") for e in check_events(*body, DIRECTORY, NOW)]
    except InvalidInput as error:
        return ("invalid", error.detail, error.errors)


RAW_CASES = [
    [event(), event(value=5, country="DE", device="mobile")],
    [event(), event(ts=(NOW + dt.timedelta(minutes=6)).isoformat())],
    [event(campaign_id=str(uuid.uuid4())), event(creator_id=OTHER_CREATOR)],
    [event(event_type="purchase"), event(value=-1), event(ts="2026-11-25T10:00:00")],
    [event(value=1.5), event(value="3"), event(event_id="not-a-uuid"), event(extra=1)],
    [event(country="de"), event(platform=None), event(device="fridge"), {"event_id": 1}],
    [event(creator_id="a\x00b")],
    [event()] * 1001,
    [],
    # Offsets other than UTC, ids not in canonical form, the edges of the allowed window.
    [
        event(ts="2026-11-25T13:00:00+01:00"),
        event(ts="2026-11-25t11:29:59.123456789z"),
        event(event_id=str(uuid.uuid4()).upper(), campaign_id="{" + CAMPAIGN + "}"),
        event(creator_id=CREATOR.replace("-", "")),
        event(ts=(NOW + dt.timedelta(minutes=5)).isoformat()),
        event(ts=(NOW - dt.timedelta(days=90)).isoformat()),
        event(ts=(ACCEPTED_AT - dt.timedelta(minutes=5)).isoformat()),
    ],
    [event(ts=(NOW - dt.timedelta(days=90, seconds=1)).isoformat())],
    [
        event(
            ts=(ACCEPTED_AT - dt.timedelta(minutes=5, seconds=1)).isoformat(), campaign_id=CAMPAIGN
        )
    ],
    [event(), event(creator_id=OTHER_CREATOR, ts="2026-11-25T13:00:00+01:00")],
]


@pytest.mark.parametrize("events", RAW_CASES)
def test_raw_json_batches_are_judged_like_parsed_ones(events):
    """The gateway passes the body on as text: one-pass validation must accept exactly what the
    per-event path accepts, and anything else answers as before."""
    for sender in (Sender("brand", BRAND), Sender("creator", CREATOR)):
        body = {"events": events}
        assert outcome((sender, json.dumps(body))) == outcome((sender, body))


@pytest.mark.parametrize("body", ["", "{", '{"events": [}', "[1, 2", "nul\x00"])
def test_raw_text_that_is_not_json_is_a_400(body):
    with pytest.raises(MalformedJson) as error:
        check_events(Sender("brand", BRAND), body, DIRECTORY, NOW)
    assert error.value.status == 400


def test_queued_events_are_the_json_form_of_the_checked_ones():
    events = check_events(Sender("brand", BRAND), {"events": [event(), event()]}, DIRECTORY, NOW)
    assert json.loads(dump_events(events)) == {
        "events": [e.model_dump(mode="json") for e in events]
    }


def test_the_writer_keys_events_by_canonical_ids_whatever_their_spelling():
    events = [
        event(),
        event(event_id=str(uuid.uuid4()).upper()),
        event(campaign_id="{" + CAMPAIGN + "}", event_id="urn:uuid:" + str(uuid.uuid4())),
        event(event_id=uuid.uuid4().hex),
    ]

    def event_key(event):
        return str(uuid.UUID(event["campaign_id"])), str(uuid.UUID(event["event_id"]))

    assert event_keys(events) == [event_key(e) for e in events]
    assert event_keys(events[:1]) == [event_key(events[0])]


def test_canonical_ids_are_checked_together_and_anything_else_one_by_one():
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert canonical_uuids(ids) == ids
    assert canonical_uuids([ids[0].upper(), ids[1]]) == ids[:2]
    assert canonical_uuids([]) == []
    with pytest.raises(ValueError):  # two ids in one value are not one id
        canonical_uuids([ids[0] + "\n" + ids[1], ids[2][:-1]])
    with pytest.raises((TypeError, AttributeError)):
        canonical_uuids([ids[0], 42])


def test_columns_hold_what_the_rows_hold():
    events = [
        json.loads(json.dumps(e))
        for e in [
            event(ts="2026-11-25T13:00:00+01:00", value=0),
            {**event(ts="2026-11-25T11:00:00.999999Z", event_type="conversion", value=7)},
            {**event(value=0), "country": "DE", "device": "tv"},
            {**event(value=0), "country": None, "device": None},
        ]
    ]
    columns = warehouse.event_columns(events)
    rows = [warehouse.event_row(e) for e in events]
    for index, name in enumerate(warehouse.EVENT_COLUMNS):
        expected = [row[index] for row in rows]
        if name == "ts":  # the column holds whole seconds; the driver takes Unix times as such
            expected = [int(ts.timestamp()) for ts in expected]
        assert columns[index] == expected, name


def test_the_writer_is_ready_only_while_its_batch_consumer_consumes():
    consumer = BatchConsumer("analytics.ingest")
    assert consumers_ready([consumer]) == (False, "batch consumer not consuming")
    consumer.consuming = True
    assert consumers_ready([consumer]) == (True, "ok")


def test_raw_batches_are_queued_exactly_as_parsed_ones(recwarn):
    events = [event(ts="2026-11-25T13:00:00+01:00"), event(event_id=str(uuid.uuid4()).upper())]
    sender = Sender("brand", BRAND)
    raw = check_events(sender, json.dumps({"events": events}), DIRECTORY, NOW)
    parsed = check_events(sender, {"events": events}, DIRECTORY, NOW)
    assert dump_events(raw) == dump_events(parsed)
    assert not recwarn.list  # pydantic serialises the one-pass events without complaint
