"""Event ingestion: who may send what (checked before anything is queued) and the
de-duplicating write to ClickHouse.

A batch is all or nothing: one bad event rejects the whole batch with an error per bad event,
so a client never has to work out which part of a batch was kept.
"""

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from clickhouse_driver import Client
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from kernel.errors import InvalidInput
from kernel.json_text import parse_json_text
from kernel.schemas import field_errors, nul_characters
from kernel.timestamps import CoreTimestamp, to_utc
from services.analytics import warehouse
from services.analytics.directory import CampaignDirectory, CampaignInfo
from services.analytics.schemas import MAX_BATCH, AnalyticsEvent, EventBatch

MAX_AGE = dt.timedelta(days=90)
MAX_SKEW = dt.timedelta(minutes=5)


class _CoreEvent(AnalyticsEvent):
    """An AnalyticsEvent whose ts pydantic-core checks alone (`parse_raw`): the same verdicts,
    without a Python call per event; the offset is normalised afterwards."""

    ts: CoreTimestamp


class _CoreBatch(EventBatch):
    events: list[_CoreEvent] = Field(min_length=1, max_length=MAX_BATCH)


EVENT = TypeAdapter(AnalyticsEvent)
BATCH = TypeAdapter(_CoreBatch)
EVENTS = TypeAdapter(list[AnalyticsEvent])
CORE_EVENTS = TypeAdapter(list[_CoreEvent])
EVENT_IDS = TypeAdapter(list[uuid.UUID])
# The zone pydantic-core gives a ts written with Z or +00:00 (one shared object; if it were not,
# parse_raw would only ask each ts for its offset).
_CORE_UTC = TypeAdapter(CoreTimestamp).validate_python("2000-01-01T00:00:00Z").tzinfo


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
        events: list[AnalyticsEvent] = list(BATCH.validate_json(body).events)
    except ValidationError:
        return None
    for event in events:
        if event.ts.tzinfo is not _CORE_UTC and event.ts.utcoffset():
            event.ts = to_utc(event.ts)
    return events


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
    # Distinct (campaign, creator) pairs, keyed by the ids' integers (cheaper to hash than
    # UUIDs, and no text per event).
    pairs = {(str(e.campaign_id), str(e.creator_id)) for e in _one_per_pair(valid)}
    campaigns = directory.campaigns({campaign_id for campaign_id, _ in pairs})
    accepted = directory.accepted({pair for pair in pairs if pair[0] in campaigns})
    if not errors and _all_allowed(sender, valid, campaigns, accepted, now):
        return valid
    errors.extend(_problems(sender, parsed, campaigns, accepted, now))
    bad = len({e["field"].split(".")[1] for e in errors if e["field"].count(".") >= 1})
    raise InvalidInput(f"{bad} of {len(parsed)} events are invalid; nothing was stored", errors)


def _one_per_pair(events: list[AnalyticsEvent]) -> list[AnalyticsEvent]:
    """One event of each (campaign, creator) pair."""
    return list({(e.campaign_id.int, e.creator_id.int): e for e in events}.values())


def _pair_floor(
    sender: Sender,
    campaign_id: str,
    creator_id: str,
    campaigns: dict[str, CampaignInfo],
    accepted: dict[tuple[str, str], dt.datetime],
) -> dt.datetime | None:
    """The earliest ts the sender may send for this (campaign, creator), or None: none at all."""
    campaign = campaigns.get(campaign_id)
    if campaign is None or not _may_report_for(sender, campaign):
        return None
    if sender.kind == "creator" and creator_id != sender.user_id:
        return None
    accepted_at = accepted.get((campaign_id, creator_id))
    return None if accepted_at is None else accepted_at - MAX_SKEW


def _all_allowed(
    sender: Sender,
    events: list[AnalyticsEvent],
    campaigns: dict[str, CampaignInfo],
    accepted: dict[tuple[str, str], dt.datetime],
    now: dt.datetime,
) -> bool:
    """Whether `_problems` would find nothing, decided per distinct (campaign, creator) pair
    instead of per event; `_problems` names what is wrong when not."""
    if not events:
        return True
    # Bounds in the zone object the events' ts share (pydantic-core reuses one per offset):
    # aware datetimes with the very same tzinfo compare without asking it for offsets.
    zone = events[0].ts.tzinfo
    earliest, latest = (now - MAX_AGE).astimezone(zone), (now + MAX_SKEW).astimezone(zone)
    floors: dict[tuple[int, int], dt.datetime | None] = {}
    for event in events:
        ts = event.ts
        if ts > latest or ts < earliest or (event.value and event.event_type != "conversion"):
            return False
        pair = (event.campaign_id.int, event.creator_id.int)
        if pair in floors:
            floor = floors[pair]
        else:
            floor = _pair_floor(
                sender, str(event.campaign_id), str(event.creator_id), campaigns, accepted
            )
            floor = floors[pair] = None if floor is None else floor.astimezone(zone)
        if floor is None or ts < floor:
            return False
    return True


def _problems(
    sender: Sender,
    parsed: list[AnalyticsEvent | None],
    campaigns: dict[str, CampaignInfo],
    accepted: dict[tuple[str, str], dt.datetime],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Every problem of every event that parsed, in order."""
    errors = []
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
    return errors


def event_ids(events: list[AnalyticsEvent]) -> list[str]:
    """The events' ids as text (the 202 answer), converted by pydantic-core in one call."""
    return EVENT_IDS.dump_python([event.event_id for event in events], mode="json")


def dump_events(events: list[AnalyticsEvent]) -> bytes:
    """The queued message body, {"events": [...]} as JSON, serialised in one pass (by the
    serializer of the events' own class: pydantic serialises a subclass's instances through a
    slower path)."""
    one_pass = all(type(event) is _CoreEvent for event in events)
    return b'{"events":' + (CORE_EVENTS if one_pass else EVENTS).dump_json(events) + b"}"


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

# A run of UUIDs in canonical form (lowercase, hyphenated: how pydantic and str(UUID) write
# them), each followed by a newline.
_CANONICAL_UUIDS = re.compile(
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n)*"
)


def canonical_uuids(values: Sequence[Any]) -> list[str]:
    """These UUIDs (text) in canonical form. Queued events carry them so already (pydantic
    writes them), which one regex pass over all of them confirms; anything else is parsed one by
    one (raising ValueError or TypeError for what is not a UUID)."""
    try:
        joined = "\n".join(values) + "\n"
    except TypeError:
        joined = ""
    if len(joined) == 37 * len(values) and _CANONICAL_UUIDS.fullmatch(joined):
        return list(values)
    return [str(uuid.UUID(value)) for value in values]


def event_keys(events: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """What makes each event unique: its id within its campaign (ids are the sender's choice),
    both canonical; one pass per column."""
    campaigns = canonical_uuids([event["campaign_id"] for event in events])
    ids = canonical_uuids([event["event_id"] for event in events])
    return list(zip(campaigns, ids, strict=True))


def first_of_each(
    events: Sequence[dict[str, Any]], keys: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The first event of each key, and their keys, in order."""
    first: dict[tuple[str, str], int] = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    if len(first) == len(events):
        return list(events), keys
    return [events[index] for index in first.values()], list(first)


def _text_array(values: list[str]) -> str:
    """A PostgreSQL array literal of UUIDs: one string parameter instead of one per id."""
    return "{" + ",".join(values) + "}"


def write_events(
    session: Session,
    clickhouse: Client,
    events: Sequence[dict[str, Any]],
    check_existing: bool,
    observe_insert: Callable[[float], None] = lambda seconds: None,
) -> list[dict[str, Any]]:
    """Insert the events not written before; return them. The (campaign, id) pairs are claimed
    in `session`'s transaction, which the caller commits only after the insert succeeded: a
    duplicate of an event in flight waits on the claim and is then skipped. Claims are taken in
    key order, so two writers claiming overlapping batches wait on each other instead of
    deadlocking. `check_existing` (after a failed attempt or a redelivery) also asks
    ClickHouse, for an insert that landed although its transaction did not commit; so does an
    id claimed before claims were per campaign."""
    if not events:
        return []
    unique, keys = first_of_each(events, event_keys(events))
    claimed = {
        (campaign_id, event_id)
        for campaign_id, event_id in session.execute(
            text(
                "INSERT INTO analytics.seen_events (campaign_id, event_id) "
                "SELECT campaign_id, event_id FROM unnest(CAST(:campaigns AS uuid[]), "
                "CAST(:ids AS uuid[])) AS claim(campaign_id, event_id) "
                "ORDER BY campaign_id, event_id "
                "ON CONFLICT DO NOTHING RETURNING campaign_id::text, event_id::text"
            ),
            {
                "campaigns": _text_array([c for c, _ in keys]),
                "ids": _text_array([e for _, e in keys]),
            },
        )
    }
    if len(claimed) == len(keys):
        fresh, fresh_keys = unique, keys
    else:
        chosen = [(e, k) for e, k in zip(unique, keys, strict=True) if k in claimed]
        fresh, fresh_keys = [e for e, _ in chosen], [k for _, k in chosen]
    legacy = _legacy_claims(session, [e for _, e in fresh_keys]) if fresh else set()
    if fresh and (check_existing or legacy):
        suspects = [
            e for e, k in zip(fresh, fresh_keys, strict=True) if check_existing or k[1] in legacy
        ]
        stored = warehouse.existing_events(clickhouse, suspects)
        fresh = [e for e, k in zip(fresh, fresh_keys, strict=True) if k not in stored]
    if fresh:
        started = time.perf_counter()
        warehouse.insert_event_columns(clickhouse, fresh)
        observe_insert(time.perf_counter() - started)
    return fresh


def _legacy_claims(session: Session, event_ids: list[str]) -> set[str]:
    """Which of these ids were claimed before claims were per campaign. Such claims are pruned
    within 91 days and none is made any more: one index probe answers for the usual case of
    none being left."""
    legacy = {"legacy": str(LEGACY_CLAIM)}
    if not session.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM analytics.seen_events "
            "WHERE campaign_id = CAST(:legacy AS uuid))"
        ),
        legacy,
    ).scalar():
        return set()
    rows = session.execute(
        text(
            "SELECT event_id::text FROM analytics.seen_events "
            "WHERE campaign_id = CAST(:legacy AS uuid) AND event_id = ANY(CAST(:ids AS uuid[]))"
        ),
        {**legacy, "ids": _text_array(event_ids)},
    )
    return set(rows.scalars())


def prune_seen(session: Session) -> int:
    """Forget ids older than the acceptance window: a resent event that old is refused anyway
    (its ts is more than 90 days ago), so it can no longer become a duplicate."""
    return session.execute(
        text("DELETE FROM analytics.seen_events WHERE seen_at < now() - interval '91 days'")
    ).rowcount
