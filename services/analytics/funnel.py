"""Marketplace facts analytics keeps for funnel figures, from other services' events. Pure:
turns an event payload into the row for ClickHouse's funnel_events, or None if it is not one."""

from typing import Any


def funnel_fact(source: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    base = {"event_id": payload["event_id"], "occurred_at": payload["occurred_at"]}
    if source == "campaigns" and event_type == "campaign_status_changed":
        if payload["status"] != "published" or payload.get("previous_status") != "draft":
            return None
        return {
            **base,
            "kind": "campaign_published",
            "campaign_id": payload["campaign_id"],
            "subject_id": payload["campaign_id"],
            "actor_id": payload["brand_id"],
            "actor_role": "brand",
        }
    if source == "applications" and event_type == "submitted":
        return {
            **base,
            "kind": "application_submitted",
            "campaign_id": payload["campaign_id"],
            "subject_id": payload["application_id"],
            "actor_id": payload["creator_id"],
            "actor_role": "creator",
        }
    if source == "applications" and event_type == "status_changed":
        if payload["status"] != "accepted":
            return None
        return {
            **base,
            "kind": "application_accepted",
            "campaign_id": payload["campaign_id"],
            "subject_id": payload["application_id"],
            "actor_id": payload["brand_id"],
            "actor_role": "brand",
        }
    if source == "messaging" and event_type == "message_sent":
        if not payload.get("campaign_id"):
            return None  # a conversation outside any campaign has no funnel
        if payload.get("sender_role") == "system":
            return None  # the platform's notices are nobody's reply
        return {
            **base,
            "kind": "message_sent",
            "campaign_id": payload["campaign_id"],
            "subject_id": payload["conversation_id"],
            "actor_id": payload["sender_id"],
            "actor_role": payload["sender_role"],
        }
    return None


DELIVERABLE_EVENTS = (
    "deliverable_submitted",
    "deliverable_approved",
    "deliverable_changes_requested",
)


def deliverable_fact(event_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """A deliverable submission or review as a row of ClickHouse's deliverable_events. A review
    happens at reviewed_at and reviews the revision submitted at submitted_at (review time)."""
    if event_type not in DELIVERABLE_EVENTS:
        return None
    reviewed = event_type != "deliverable_submitted"
    return {
        "event_id": payload["event_id"],
        "kind": event_type,
        "campaign_id": payload["campaign_id"],
        "deliverable_id": payload["deliverable_id"],
        "creator_id": payload["creator_id"],
        "revision": payload["revision"],
        "submitted_at": payload["submitted_at"],
        "occurred_at": payload["reviewed_at"] if reviewed else payload["submitted_at"],
    }
