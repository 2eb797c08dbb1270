"""Event ingestion: who may send what (checked before anything is queued) and the
de-duplicating write to ClickHouse.

A batch is all or nothing: one bad event rejects the whole batch with an error per bad event,
so a client never has to work out which part of a batch was kept.
"""

import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from clickhouse_driver import Client
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from kernel.errors import InvalidInput
from kernel.json_text import parse_json_text
from kernel.schemas import field_errors, nul_characters
from services.analytics import warehouse
from services.analytics.directory import CampaignDirectory, CampaignInfo
from services.analytics.schemas import MAX_BATCH, AnalyticsEvent, EventBatch

MAX_AGE = dt.timedelta(days=90)
MAX_SKEW = dt.timedelta(minutes=5)
EVENT = TypeAdapter(AnalyticsEvent)
BATCH = TypeAdapter(EventBatch)
EVENTS = TypeAdapter(list[AnalyticsEvent])


@dataclass(frozen=True)
class Sender:
    """A brand or creator (user_id), or an ingestion key: limited to the campaigns of brand_id
    (and to campaign_ids among them when set)."""

    kind: Literal["brand", "creator", "key"]
    user_id: str | None = None
    brand_id: str | None = None
    campaign_ids: frozenset[str] | None = None


def _error(index: int, name: str, message: str, code: str) -> dict[str, Any]:
    return {"field": f"events.{index}.{name}", "message": message, "code": code}


def parse_events(body: Any) -> tuple[list[AnalyticsEvent | None], list[dict[str, Any]]]:
    """Validate each event on its own so every bad one is reported, not just the first."""
    items = body.get("events") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"events"} or not isinstance(items, list):
        raise InvalidInput(
            'body must be {"events": [...]}',
            [{"field": "events", "message": "a list of events is required", "code": "type"}],
        )
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(
            f"a batch holds 1 to {MAX_BATCH} events",
            [{"field": "events", "message": f"got {len(items)}", "code": "batch_size"}],
        )
    parsed: list[AnalyticsEvent | None] = []
    errors = []
    for index, item in enumerate(items):
        if problems := nul_characters(item, f"events.{index}"):
            errors.extend(problems)
            parsed.append(None)
            continue
        try:
            parsed.append(EVENT.validate_python(item))
        except ValidationError as exc:
            parsed.append(None)
            for problem in field_errors(exc):
                errors.append({**problem, "field": f"events.{index}.{problem['field']}"})
    return parsed, errors


def parse_raw(body: str) -> list[AnalyticsEvent] | None:
    """A raw JSON batch validated in one pass (pydantic-core parses and validates together), or
    None when anything is off: the per-event path then names every problem, as it always did.
    (A JSON NUL escape goes that way too, for its own error.)"""
    if "\\u0000" in body:
        return None
    try:
        return BATCH.validate_json(body).events
    except ValidationError:
        return None


def parse_body(body: Any) -> tuple[list[AnalyticsEvent | None], list[dict[str, Any]]]:
    """Events from a parsed body, or from the raw JSON text the gateway passes on unparsed."""
    if not isinstance(body, str):
        return parse_events(body)
    events = parse_raw(body)
    if events is not None:
        return list(events), []
    return parse_events(parse_json_text(body))


def check_events(
    sender: Sender, body: Any, directory: CampaignDirectory, now: dt.datetime
) -> list[AnalyticsEvent]:
    """The batch's events (`body`: parsed, or raw JSON text), or InvalidInput listing every bad
    one. `dump_events` gives their queued form."""
    parsed, errors = parse_body(body)
    valid = [event for event in parsed if event is not None]
    campaigns = directory.campaigns({str(e.campaign_id) for e in valid})
    accepted = directory.accepted(
        {(str(e.campaign_id), str(e.creator_id)) for e in valid if str(e.campaign_id) in campaigns}
    )
    for index, event in enumerate(parsed):
        if event is None:
            continue
        if event.ts > now + MAX_SKEW:
            errors.append(_error(index, "ts", "is in the future", "ts_in_future"))
        elif event.ts < now - MAX_AGE:
            errors.append(_error(index, "ts", "is older than 90 days", "ts_too_old"))
        if event.value and event.event_type != "conversion":
            errors.append(
                _error(index, "value", "only conversions carry a value", "value_not_conversion")
            )
        campaign = campaigns.get(str(event.campaign_id))
        if campaign is None or not _may_report_for(sender, campaign):
            errors.append(
                _error(index, "campaign_id", "no such campaign (or not yours)", "unknown_campaign")
            )
            continue
        if sender.kind == "creator" and str(event.creator_id) != sender.user_id:
            errors.append(
                _error(index, "creator_id", "creators report their own events", "not_own_events")
            )
        elif (accepted_at := accepted.get((str(event.campaign_id), str(event.creator_id)))) is None:
            errors.append(
                _error(
                    index,
                    "creator_id",
                    "this creator is not accepted on the campaign",
                    "creator_not_on_campaign",
                )
            )
        elif event.ts < accepted_at - MAX_SKEW:
            errors.append(
                _error(
                    index,
                    "ts",
                    f"is before the creator was accepted ({accepted_at.isoformat()})",
                    "ts_before_acceptance",
                )
            )
    if errors:
        bad = len({e["field"].split(".")[1] for e in errors if e["field"].count(".") >= 1})
        raise InvalidInput(f"{bad} of {len(parsed)} events are invalid; nothing was stored", errors)
    return valid


def dump_events(events: list[AnalyticsEvent]) -> bytes:
    """The queued message body, {"events": [...]} as JSON, serialised in one pass."""
    return b'{"events":' + EVENTS.dump_json(events) + b"}"


def _may_report_for(sender: Sender, campaign: CampaignInfo) -> bool:
    if sender.kind == "brand":
        return sender.user_id == campaign.brand_id
    if sender.kind == "key":
        return sender.brand_id == campaign.brand_id and (
            sender.campaign_ids is None or campaign.campaign_id in sender.campaign_ids
        )
    return True  # a creator: limited to campaigns it is accepted on, checked per event


# Claims made before de-duplication was per campaign (see the dedupe_per_campaign migration).
LEGACY_CLAIM = uuid.UUID(int=0)


def event_key(event: dict[str, Any]) -> tuple[str, str]:
    """What makes an event unique: its id within its campaign (ids are the sender's choice)."""
    return str(uuid.UUID(event["campaign_id"])), str(uuid.UUID(event["event_id"]))


def first_of_each(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for event in events:
        key = event_key(event)
        if key not in seen:
            seen.add(key)
            unique.append(event)
    return unique


def write_events(
    session: Session,
    clickhouse: Client,
    events: Sequence[dict[str, Any]],
    check_existing: bool,
    observe_insert: Callable[[float], None] = lambda seconds: None,
) -> list[dict[str, Any]]:
    """Insert the events not written before; return them. The (campaign, id) pairs are claimed
    in `session`'s transaction, which the caller commits only after the insert succeeded: a
    duplicate of an event in flight waits on the claim and is then skipped. `check_existing`
    (after a failed attempt or a redelivery) also asks ClickHouse, for an insert that landed
    although its transaction did not commit; so does an id claimed before claims were per
    campaign."""
    unique = first_of_each(events)
    if not unique:
        return []
    keys = [event_key(event) for event in unique]
    claimed = {
        (str(campaign_id), str(event_id))
        for campaign_id, event_id in session.execute(
            text(
                "INSERT INTO analytics.seen_events (campaign_id, event_id) "
                "SELECT * FROM unnest(CAST(:campaigns AS uuid[]), CAST(:ids AS uuid[])) "
                "ON CONFLICT DO NOTHING RETURNING campaign_id, event_id"
            ),
            {"campaigns": [c for c, _ in keys], "ids": [e for _, e in keys]},
        )
    }
    fresh = [event for event, key in zip(unique, keys, strict=True) if key in claimed]
    legacy = _legacy_claims(session, [event_key(event)[1] for event in fresh]) if fresh else set()
    suspects = [e for e in fresh if check_existing or event_key(e)[1] in legacy]
    if suspects:
        stored = warehouse.existing_events(clickhouse, suspects)
        fresh = [event for event in fresh if event_key(event) not in stored]
    if fresh:
        started = time.perf_counter()
        warehouse.insert_events(clickhouse, fresh)
        observe_insert(time.perf_counter() - started)
    return fresh


def _legacy_claims(session: Session, event_ids: list[str]) -> set[str]:
    """Which of these ids were claimed before claims were per campaign."""
    rows = session.execute(
        text(
            "SELECT event_id FROM analytics.seen_events "
            "WHERE campaign_id = CAST(:legacy AS uuid) AND event_id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"legacy": str(LEGACY_CLAIM), "ids": event_ids},
    )
    return {str(event_id) for event_id in rows.scalars()}


def prune_seen(session: Session) -> int:
    """Forget ids older than the acceptance window: a resent event that old is refused anyway
    (its ts is more than 90 days ago), so it can no longer become a duplicate."""
    return session.execute(
        text("DELETE FROM analytics.seen_events WHERE seen_at < now() - interval '91 days'")
    ).rowcount
