"""Payloads that satisfy an event contract, for tests of the event plumbing itself."""

import uuid


def revoked(marker: str) -> dict[str, str]:
    """A session_revoked payload (any contract would do) that carries `marker` as its reason."""
    return {"session_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "reason": marker}
