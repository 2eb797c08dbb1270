"""Deliverables end to end through the gateway: every transition, the system messages arriving
over a real WebSocket, progress in the application and campaign views, the funnel figures,
ownership 404s and bad input."""

import pytest

from tests.conftest import wait_until
from tests.e2e.chat import A, Client, accepted_chat, of_type
from tests.e2e.marketplace import apply, call, make_brand, make_creator, published_campaign

pytestmark = pytest.mark.e2e

REEL = {
    "type": "reel",
    "platform": "instagram",
    "url": "https://instagram.com/p/abc",
    "caption": "New boots on the Zugspitze",
    "posted_at": "2026-11-20T10:00:00Z",
}


def system_message(client: Client, event: str, deliverable_id: str) -> dict:
    def matches(frame):
        notice = frame.get("notice") or {}
        return (
            of_type("message")(frame)
            and frame.get("kind") == "system"
            and notice.get("event") == event
            and notice.get("deliverable_id") == deliverable_id
        )

    return client.until(matches, timeout=30)


def test_submit_request_changes_resubmit_approve_with_live_notices_and_figures(api):
    chat = accepted_chat(api)
    brand_socket, creator_socket = Client(api.ws_url, chat.brand), Client(api.ws_url, chat.creator)
    try:
        path = f"{A}/applications/{chat.application_id}/deliverables"
        submitted = call(api, "POST", path, chat.creator, REEL)
        assert submitted.status_code == 201, submitted.text
        item = submitted.json()
        assert (item["status"], item["revision"], item["url"]) == ("submitted", 1, REEL["url"])
        notice = system_message(brand_socket, "deliverable_submitted", item["id"])
        assert notice["conversation_id"] == chat.conversation_id
        assert notice["sender_id"] == "00000000-0000-0000-0000-000000000000"
        assert REEL["url"] in notice["body"]

        one = f"{A}/deliverables/{item['id']}"
        changes = call(api, "POST", f"{one}/request-changes", chat.brand, {"note": "Show the logo"})
        assert changes.status_code == 200, changes.text
        assert (changes.json()["status"], changes.json()["review_note"]) == (
            "changes_requested",
            "Show the logo",
        )
        notice = system_message(creator_socket, "deliverable_changes_requested", item["id"])
        assert "Show the logo" in notice["body"]

        resubmitted = call(
            api, "PUT", one, chat.creator, {"url": "https://instagram.com/p/def", "caption": "v2"}
        )
        assert resubmitted.status_code == 200, resubmitted.text
        assert (resubmitted.json()["status"], resubmitted.json()["revision"]) == ("submitted", 2)
        system_message(brand_socket, "deliverable_submitted", item["id"])

        approved = call(api, "POST", f"{one}/approve", chat.brand)
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        system_message(creator_socket, "deliverable_approved", item["id"])
    finally:
        brand_socket.close()
        creator_socket.close()

    # history of revisions, visible to both parties
    for user in (chat.brand, chat.creator):
        detail = call(api, "GET", one, user).json()
        assert [(r["revision"], r["status"]) for r in detail["revisions"]] == [
            (1, "changes_requested"),
            (2, "approved"),
        ]
        assert detail["revisions"][0]["review_note"] == "Show the logo"

    # the system messages are in the conversation's history too
    history = call(api, "GET", f"{A}/conversations/{chat.conversation_id}/messages", chat.creator)
    kinds = [m["kind"] for m in history.json()["items"]]
    assert kinds.count("system") == 4

    # lists for both parties, and the brand's campaign list filtered by status
    for user in (chat.brand, chat.creator):
        listed = call(api, "GET", path, user).json()
        assert [d["id"] for d in listed["items"]] == [item["id"]]
    campaign_list = f"{A}/campaigns/{chat.campaign_id}/deliverables"
    approved_list = call(api, "GET", campaign_list, chat.brand, params={"status": "approved"})
    assert [d["id"] for d in approved_list.json()["items"]] == [item["id"]]
    waiting = call(api, "GET", campaign_list, chat.brand, params={"status": "submitted"})
    assert waiting.json() == {"items": [], "next_cursor": None}

    # progress: in the application view (campaign owes 2 reels) and the campaign view
    application = call(api, "GET", f"{A}/applications/{chat.application_id}", chat.creator).json()
    assert application["deliverables_progress"] == {
        "owed": 2,
        "submitted": 1,
        "awaiting_review": 0,
        "changes_requested": 0,
        "approved": 1,
    }
    campaign = call(api, "GET", f"{A}/campaigns/{chat.campaign_id}", chat.brand)
    assert campaign.json()["deliverables_progress"] == {
        "accepted_applications": 1,
        "owed": 2,
        "submitted": 1,
        "awaiting_review": 0,
        "changes_requested": 0,
        "approved": 1,
    }
    tag = campaign.headers["ETag"]
    unchanged = call(
        api, "GET", f"{A}/campaigns/{chat.campaign_id}", chat.brand, headers={"If-None-Match": tag}
    )
    assert unchanged.status_code == 304
    assert (
        "deliverables_progress"
        not in call(api, "GET", f"{A}/campaigns/{chat.campaign_id}", chat.creator).json()
    )

    # analytics' funnel: one deliverable submitted and approved, two reviews timed
    summary = f"{A}/campaigns/{chat.campaign_id}/analytics/summary"

    def funnel():
        figures = call(api, "GET", summary, chat.brand).json()["funnel"]
        return figures if figures["deliverable_reviews"] == 2 else None

    figures = wait_until(funnel, timeout=20)
    assert (figures["deliverables_submitted"], figures["deliverables_approved"]) == (1, 1)
    assert figures["median_review_seconds"] >= 0
    # system messages are nobody's reply: no replied conversation from them alone
    assert figures["replied_conversations"] == 0


def test_every_wrong_transition_is_a_409_and_changes_nothing(api):
    chat = accepted_chat(api)
    path = f"{A}/applications/{chat.application_id}/deliverables"
    item = call(api, "POST", path, chat.creator, REEL).json()
    one = f"{A}/deliverables/{item['id']}"
    assert call(api, "PUT", one, chat.creator, {"url": "https://x.example/1"}).status_code == 409
    assert call(api, "POST", f"{one}/approve", chat.brand).status_code == 200
    assert call(api, "POST", f"{one}/approve", chat.brand).status_code == 409
    again = call(api, "POST", f"{one}/request-changes", chat.brand, {"note": "more"})
    assert again.status_code == 409
    assert again.headers["Content-Type"].startswith("application/problem+json")
    assert call(api, "PUT", one, chat.creator, {"url": "https://x.example/2"}).status_code == 409
    # both owed reels submitted: a third is a conflict
    assert call(api, "POST", path, chat.creator, REEL).status_code == 201
    assert call(api, "POST", path, chat.creator, REEL).status_code == 409
    detail = call(api, "GET", one, chat.brand).json()
    assert (detail["status"], len(detail["revisions"])) == ("approved", 1)


def test_others_get_404_and_the_other_party_403(api):
    chat = accepted_chat(api)
    path = f"{A}/applications/{chat.application_id}/deliverables"
    item = call(api, "POST", path, chat.creator, REEL).json()
    one = f"{A}/deliverables/{item['id']}"
    stranger, other_brand = make_creator(api), make_brand(api)
    assert call(api, "POST", path, stranger, REEL).status_code == 404
    assert call(api, "GET", path, stranger).status_code == 404
    assert call(api, "GET", path, other_brand).status_code == 404
    assert call(api, "GET", one, stranger).status_code == 404
    assert call(api, "PUT", one, stranger, {"url": "https://x.example"}).status_code == 404
    assert call(api, "POST", f"{one}/approve", other_brand).status_code == 404
    changes = call(api, "POST", f"{one}/request-changes", other_brand, {"note": "x"})
    assert changes.status_code == 404
    listed = call(api, "GET", f"{A}/campaigns/{chat.campaign_id}/deliverables", other_brand)
    assert listed.status_code == 404
    assert call(api, "GET", f"{A}/deliverables/not-a-uuid", chat.brand).status_code == 404
    # the parties in the wrong role
    assert call(api, "POST", path, chat.brand, REEL).status_code == 403
    assert call(api, "POST", f"{one}/approve", chat.creator).status_code == 403
    assert call(api, "GET", one, chat.creator).json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**REEL, "url": "javascript:alert(1)"}, "url"),
        ({**REEL, "url": "ftp://example.com/x"}, "url"),
        ({**REEL, "caption": "x" * 2201}, "caption"),
        ({**REEL, "type": "tweet"}, "type"),
        ({**REEL, "extra": 1}, "extra"),
        ({**REEL, "posted_at": "yesterday"}, "posted_at"),
    ],
)
def test_bad_submissions_are_422_naming_the_field(api, body, field):
    chat = accepted_chat(api)
    path = f"{A}/applications/{chat.application_id}/deliverables"
    response = call(api, "POST", path, chat.creator, body)
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]}
    assert call(api, "GET", path, chat.creator).json()["items"] == []


def test_malformed_requests_and_bad_queries(api):
    chat = accepted_chat(api)
    path = f"{A}/applications/{chat.application_id}/deliverables"
    raw = call(
        api, "POST", path, chat.creator, headers={"Content-Type": "application/json"}, data="{"
    )
    assert raw.status_code == 400
    item = call(api, "POST", path, chat.creator, REEL).json()
    one = f"{A}/deliverables/{item['id']}"
    assert call(api, "POST", f"{one}/request-changes", chat.brand, {}).status_code == 422
    assert call(api, "POST", f"{one}/request-changes", chat.brand, {"note": ""}).status_code == 422
    campaign_list = f"{A}/campaigns/{chat.campaign_id}/deliverables"
    for params in ({"status": "lost"}, {"limit": "0"}, {"cursor": "!!"}, {"sort": "x"}):
        assert call(api, "GET", campaign_list, chat.brand, params=params).status_code == 422
    assert call(api, "GET", one, chat.brand).json()["status"] == "submitted"


def test_nothing_is_submitted_on_an_unaccepted_application_or_a_closed_campaign(api):
    brand, creator, late = make_brand(api), make_creator(api), make_creator(api)
    campaign = published_campaign(api, brand)
    pending = apply(api, creator, campaign["id"]).json()
    path = f"{A}/applications/{pending['id']}/deliverables"
    assert call(api, "POST", path, creator, REEL).status_code == 409  # submitted, not accepted
    withdrawn = call(api, "POST", f"{A}/applications/{pending['id']}/withdraw", creator)
    assert withdrawn.status_code == 200
    assert call(api, "POST", path, creator, REEL).status_code == 409

    chat = accepted_chat(api)
    other = apply(api, late, chat.campaign_id).json()
    closed = call(api, "POST", f"{A}/campaigns/{chat.campaign_id}/close", chat.brand)
    assert closed.status_code == 200

    def close_handled():  # applications rejects pending applications when it learns of it
        view = call(api, "GET", f"{A}/applications/{other['id']}", late).json()
        return view["status"] == "rejected"

    wait_until(close_handled, timeout=20)
    path = f"{A}/applications/{chat.application_id}/deliverables"
    response = call(api, "POST", path, chat.creator, REEL)
    assert response.status_code == 409
    assert "closed" in response.json()["detail"]
