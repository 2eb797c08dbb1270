"""The envelope every event carries: consumers are idempotent on `event_id`, and `occurred_at`
gives handler lag (dependencies.metrics) and event times (analytics' funnel)."""

import datetime as dt
import uuid
from typing import Any


def event_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with a fresh event_id and the current time as occurred_at."""
    return {
        **payload,
        "event_id": str(uuid.uuid4()),
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
    }
