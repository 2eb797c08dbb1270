"""Deliverable rules without I/O: bodies and their limits, what is owed, the system message."""

import pytest

from kernel.errors import InvalidInput
from kernel.schemas import parse_model
from services.applications.deliverables import event_payload, owed_plan
from services.applications.models import ApplicationRow, CampaignSlots
from services.applications.schemas import (
    MAX_CAPTION_CHARS,
    MAX_NOTE_CHARS,
    MAX_URL_CHARS,
    ChangeRequest,
    DeliverableResubmission,
    DeliverableSubmission,
)
from services.messaging.conversations import deliverable_notice_text
from services.messaging.schemas import MAX_BODY_CHARS
from tests.sample_events import deliverable

GOOD = {"type": "reel", "platform": "instagram", "url": "https://instagram.com/p/abc"}


def fields(model, body):
    with pytest.raises(InvalidInput) as raised:
        parse_model(model, body)
    return {error["field"] for error in raised.value.errors}


def test_a_submission_needs_type_platform_and_an_http_url():
    parsed = parse_model(
        DeliverableSubmission,
        {**GOOD, "caption": "boots!", "posted_at": "2026-11-20T10:00:00+01:00"},
    )
    assert parsed.posted_at.isoformat() == "2026-11-20T09:00:00+00:00"
    assert fields(DeliverableSubmission, {}) == {"type", "platform", "url"}


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "https://",
        "instagram.com/p/abc",
        "https://exa mple.com",
        "https://example.com:99999/",
        "",
        "https://example.com/" + "a" * MAX_URL_CHARS,
    ],
)
def test_only_http_and_https_urls_with_a_host_are_accepted(url):
    assert fields(DeliverableSubmission, {**GOOD, "url": url}) == {"url"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "caption": "x" * (MAX_CAPTION_CHARS + 1)}, "caption"),
        ({**GOOD, "type": "tweet"}, "type"),
        ({**GOOD, "platform": "myspace"}, "platform"),
        ({**GOOD, "posted_at": "2026-11-20T10:00:00"}, "posted_at"),
        ({**GOOD, "posted_at": 1700000000}, "posted_at"),
        ({**GOOD, "status": "approved"}, "status"),
        ({**GOOD, "caption": "nul\x00"}, "caption"),
    ],
)
def test_bad_fields_are_named(body, field):
    assert fields(DeliverableSubmission, body) == {field}


def test_a_resubmission_cannot_change_type_or_platform():
    assert fields(DeliverableResubmission, GOOD) == {"type", "platform"}
    assert parse_model(DeliverableResubmission, {"url": "http://example.com/v2"}).caption is None


def test_a_change_request_needs_a_note_within_limits():
    assert fields(ChangeRequest, {}) == {"note"}
    assert fields(ChangeRequest, {"note": ""}) == {"note"}
    assert fields(ChangeRequest, {"note": "x" * (MAX_NOTE_CHARS + 1)}) == {"note"}


def test_what_is_owed_is_the_applications_plan_or_else_the_campaigns():
    campaign = CampaignSlots(
        deliverables=[
            {"type": "reel", "platform": "instagram", "quantity": 2},
            {"type": "reel", "platform": "instagram", "quantity": 1},
        ]
    )
    without_plan = ApplicationRow(deliverable_plan=[])
    assert owed_plan(without_plan, campaign) == {("reel", "instagram"): 3}
    with_plan = ApplicationRow(
        deliverable_plan=[{"type": "video", "platform": "youtube", "quantity": 1}]
    )
    assert owed_plan(with_plan, campaign) == {("video", "youtube"): 1}
    assert owed_plan(without_plan, None) == {}


def test_event_payloads_carry_ids_times_and_the_note_of_a_change_request():
    submitted = event_payload(deliverable())
    assert submitted["deliverable_id"] and "note" not in submitted
    changes = event_payload(deliverable(status="changes_requested", review_note="brighter"))
    assert changes["note"] == "brighter"


def test_system_message_texts_fit_a_message():
    base = event_payload(deliverable())
    assert deliverable_notice_text("deliverable_submitted", base) == (
        "Deliverable submitted (reel on instagram): https://instagram.com/p/abc"
    )
    assert "revision 2" in deliverable_notice_text("deliverable_submitted", {**base, "revision": 2})
    assert deliverable_notice_text("deliverable_approved", base).startswith("Deliverable approved")
    long_note = {**base, "status": "changes_requested", "note": "x" * MAX_BODY_CHARS}
    text = deliverable_notice_text("deliverable_changes_requested", long_note)
    assert len(text) == MAX_BODY_CHARS


def test_the_owners_campaign_etag_follows_the_progress_and_if_match_reads_the_version():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from gateway_http.caller import etag, expected_version

    progress = {"owed": 2, "submitted": 1, "approved": 0}
    assert etag(7) == '"7"'
    tagged = etag(7, progress)
    assert tagged.startswith('"7.') and tagged == etag(7, dict(reversed(progress.items())))
    assert etag(7, {**progress, "approved": 1}) != tagged

    def if_match(value):
        return expected_version(Request(EnvironBuilder(headers={"If-Match": value}).get_environ()))

    assert (if_match(tagged), if_match('"7"'), if_match('W/"7"'), if_match('"x.1"')) == (
        7,
        7,
        7,
        -1,
    )
