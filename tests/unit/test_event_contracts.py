"""A contract test per event: what its producer may send, what its consumers can rely on, and
docs/events.md generated from the same models."""

import datetime as dt
import uuid
from typing import Any

import pytest

from kernel.events import CONTRACTS, ContractViolation, EventContract, checked_payload, new_event
from scripts import event_docs


def _id() -> str:
    return str(uuid.uuid4())


AT = "2026-11-30T12:00:00+00:00"
EUR = {"amount": 50_000, "currency": "EUR"}
CAMPAIGN = {
    "campaign_id": _id(),
    "brand_id": _id(),
    "status": "published",
    "title": "Spring boots",
    "brief": "Show them outdoors",
    "objectives": ["reach"],
    "niches": ["outdoors"],
    "platforms": ["instagram"],
    "deliverables": [{"type": "reel", "platform": "instagram", "quantity": 2}],
    "budget": EUR,
    "compensation": "fixed",
    "application_deadline": AT,
    "starts_at": AT,
    "ends_at": AT,
    "max_creators": 3,
    "requirements": {"min_followers": 1000, "countries": ["DE"]},
    "version": 2,
    "created_at": AT,
    "updated_at": AT,
    "published_at": AT,
}
APPLICATION = {
    "application_id": _id(),
    "campaign_id": _id(),
    "brand_id": _id(),
    "creator_id": _id(),
    "status": "accepted",
    "proposed_rate": EUR,
}
DELIVERABLE = {
    "deliverable_id": _id(),
    "application_id": _id(),
    "campaign_id": _id(),
    "brand_id": _id(),
    "creator_id": _id(),
    "type": "reel",
    "platform": "instagram",
    "url": "https://instagram.com/p/abc",
    "status": "submitted",
    "revision": 1,
    "submitted_at": AT,
    "reviewed_at": None,
}
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("auth", "user_registered"): {
        "user_id": _id(),
        "email": "a@example.com",
        "role": "creator",
        "display_name": "Ana",
    },
    ("auth", "session_revoked"): {"session_id": _id(), "user_id": _id(), "reason": "logout"},
    ("users", "profile_updated"): {
        "user_id": _id(),
        "role": "brand",
        "profile": {"company_name": "Acme"},
    },
    ("campaigns", "campaign_created"): {**CAMPAIGN, "status": "draft", "published_at": None},
    ("campaigns", "campaign_updated"): CAMPAIGN,
    ("campaigns", "campaign_status_changed"): {**CAMPAIGN, "previous_status": "draft"},
    ("campaigns", "campaign_deleted"): {
        "campaign_id": _id(),
        "brand_id": _id(),
        "status": "deleted",
    },
    ("applications", "submitted"): {**APPLICATION, "status": "submitted"},
    ("applications", "status_changed"): {**APPLICATION, "previous_status": "shortlisted"},
    ("applications", "deliverable_submitted"): DELIVERABLE,
    ("applications", "deliverable_approved"): {
        **DELIVERABLE,
        "status": "approved",
        "reviewed_at": AT,
    },
    ("applications", "deliverable_changes_requested"): {
        **DELIVERABLE,
        "status": "changes_requested",
        "reviewed_at": AT,
        "note": "brighter, please",
    },
    ("messaging", "message_sent"): {
        "conversation_id": _id(),
        "campaign_id": _id(),
        "sender_id": _id(),
        "sender_role": "brand",
        "seq": 1,
        "participants": [_id(), _id()],
        "message": {"seq": 1, "body": "hi"},
        "origin": None,
    },
    ("messaging", "conversation_read"): {
        "conversation_id": _id(),
        "participants": [_id(), _id()],
        "user_id": _id(),
        "seq": 4,
    },
    ("ws", "typing"): {"conversation_id": _id(), "user_id": _id(), "participants": [_id()]},
    ("ws", "presence"): {"user_id": _id(), "status": "online", "notify": [_id()]},
}


def test_every_contract_has_an_example() -> None:
    assert set(EXAMPLES) == set(CONTRACTS)


@pytest.mark.parametrize("key", sorted(CONTRACTS), ids=".".join)
def test_a_producer_sends_exactly_the_contract(key: tuple[str, str]) -> None:
    source, name = key
    event = new_event(source, name, EXAMPLES[key])
    assert set(event) == set(EXAMPLES[key]) | {"event_id", "occurred_at", "event_version"}
    assert dt.datetime.fromisoformat(event["occurred_at"]).tzinfo is not None
    assert checked_payload(source, name, event) == event  # stable: checking twice changes nothing

    with pytest.raises(ContractViolation, match="has no fields"):
        new_event(source, name, {**EXAMPLES[key], "surprise": 1})
    first_field = next(iter(EXAMPLES[key]))
    incomplete = {k: v for k, v in EXAMPLES[key].items() if k != first_field}
    with pytest.raises(ContractViolation, match="breaks its contract"):
        new_event(source, name, incomplete)


@pytest.mark.parametrize("key", sorted(CONTRACTS), ids=".".join)
def test_a_consumer_reads_newer_payloads_and_refuses_broken_ones(key: tuple[str, str]) -> None:
    source, name = key
    contract = CONTRACTS[key]
    event = new_event(source, name, EXAMPLES[key])
    newer = contract.read_json({**event, "added_later": True})
    assert "added_later" not in newer
    assert {key: newer[key] for key in event} == event
    with pytest.raises(ValueError):
        contract.read({k: v for k, v in event.items() if k != "event_id"})


def test_an_event_without_a_contract_is_refused() -> None:
    with pytest.raises(ContractViolation, match="no contract"):
        new_event("auth", "probed", {})


def test_uuid_and_time_fields_are_checked() -> None:
    with pytest.raises(ContractViolation):
        new_event(
            "auth", "session_revoked", {**EXAMPLES[("auth", "session_revoked")], "user_id": "7"}
        )
    naive = {**EXAMPLES[("messaging", "conversation_read")]}
    event = new_event("messaging", "conversation_read", naive)
    with pytest.raises(ValueError):
        CONTRACTS[("messaging", "conversation_read")].read(
            {**event, "occurred_at": "2026-11-30T12:00:00"}
        )


def test_every_handled_event_has_a_contract() -> None:
    handled = event_docs.consumers()
    assert handled, "no event handlers found"
    assert set(handled) <= set(CONTRACTS), set(handled) - set(CONTRACTS)


def test_the_envelope_is_the_same_for_every_contract() -> None:
    for contract in CONTRACTS.values():
        assert issubclass(contract, EventContract)
        assert {"event_id", "occurred_at", "event_version"} <= set(contract.model_fields)


def test_docs_events_md_is_generated_from_the_contracts() -> None:
    assert event_docs.DOC_FILE.read_text() == event_docs.render(), (
        "docs/events.md is stale: run `python -m scripts.event_docs`"
    )
