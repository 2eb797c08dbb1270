"""Payloads for tests: ones that satisfy an event contract (for the event plumbing itself) and
tracking events as analytics ingests them."""

import datetime as dt
import uuid
from typing import Any


def revoked(marker: str) -> dict[str, str]:
    """A session_revoked payload (any contract would do) that carries `marker` as its reason."""
    return {"session_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "reason": marker}


def tracked(campaign_id: str, creator_id: str, at: dt.datetime, **overrides: Any) -> dict[str, Any]:
    """One tracking event (a click on Instagram unless `overrides` say otherwise), as ingested."""
    return {
        "event_id": str(uuid.uuid4()),
        "campaign_id": campaign_id,
        "creator_id": creator_id,
        "event_type": "click",
        "ts": at.isoformat(),
        "platform": "instagram",
        **overrides,
    }


def deliverable(**overrides: Any) -> dict[str, Any]:
    """A deliverable as applications answers it (submitted, first revision)."""
    return {
        "id": str(uuid.uuid4()),
        "application_id": str(uuid.uuid4()),
        "campaign_id": str(uuid.uuid4()),
        "brand_id": str(uuid.uuid4()),
        "creator_id": str(uuid.uuid4()),
        "type": "reel",
        "platform": "instagram",
        "url": "https://instagram.com/p/abc",
        "status": "submitted",
        "revision": 1,
        "review_note": None,
        "submitted_at": "2026-11-20T10:00:00+00:00",
        "reviewed_at": None,
        **overrides,
    }
