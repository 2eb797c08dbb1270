"""The work behind `GET /t/{code}`: resolve the code (the gateway's Redis, then the analytics
service) and decide whether this visit is a click to count. Plain functions over a Redis client
and callables, so they are tested without a gateway.

Cache entries: `tl:code:<code>` holds the resolved link as JSON, or "" for a code that answers
404 (unknown or disabled). A fill never overwrites (SET NX); disabling a link writes "" over
whatever is there, so a fill racing with a disable cannot bring the link back."""

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import eventlet
import redis

from kernel.errors import NotFound
from services.analytics import clicks

log = logging.getLogger("gateway_http")

CACHE_PREFIX = "tl:code:"
GONE = ""
# A visitor waits at most this long for the broker to confirm a click; then the click is given
# up and the visitor redirected (a broker outage must not turn links into slow links).
QUEUE_TIMEOUT_SECONDS = 1.0
# One quick reconnect (a pooled connection gone stale after a broker restart), no backoff.
PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}


def cache_key(code: str) -> str:
    return CACHE_PREFIX + code


def resolve(
    client: redis.Redis,
    code: str,
    fetch: Callable[[str], dict[str, Any]],
    cache_seconds: int,
) -> dict[str, Any] | None:
    """The link behind `code`, or None (answer 404). `fetch` asks the analytics service and
    raises NotFound. Redis being down only costs the cache; `cache_seconds` 0 turns it off."""
    if not clicks.is_code(code):
        return None
    if cache_seconds <= 0:
        try:
            return fetch(code)
        except NotFound:
            return None
    key = cache_key(code)
    try:
        cached = client.get(key)
    except redis.RedisError:
        log.warning("link cache unavailable; resolving %s by RPC", code)
        cached = None
    if cached is not None:
        return json.loads(cached) if cached != GONE else None
    try:
        link: dict[str, Any] | None = fetch(code)
    except NotFound:
        link = None
    with contextlib.suppress(redis.RedisError):
        client.set(key, json.dumps(link) if link else GONE, ex=cache_seconds, nx=True)
    return link


def forget(client: redis.Redis, code: str, cache_seconds: int) -> None:
    """After a link is disabled: every gateway answers 404 for it from now on."""
    client.set(cache_key(code), GONE, ex=max(cache_seconds, 60))


def visit(
    client: redis.Redis, link: dict[str, Any], address: str | None, user_agent: str | None
) -> tuple[str | None, bool]:
    """(click id for the redirect, whether this visit is a new click to record). Bots get no
    click id and count nothing; a visitor seen on this link within the dedupe window gets the
    click id of its first visit again and counts nothing."""
    if clicks.is_bot(user_agent):
        return None, False
    click_id = clicks.new_click_id(link["code"])
    key = clicks.visitor_key(link["link_id"], address, user_agent)
    try:
        # One round trip (Redis >= 7.0): set if absent, and read what was there.
        earlier = client.set(key, click_id, nx=True, get=True, ex=clicks.DEDUPE_SECONDS)
    except redis.RedisError:
        log.warning("visitor store unavailable; counting the click on %s", link["code"])
        return click_id, True
    return (click_id, True) if earlier is None else (earlier, False)


def unrecord(
    client: redis.Redis, link: dict[str, Any], address: str | None, user_agent: str | None
) -> None:
    """A click that could not be queued: the visitor's next click may count instead."""
    with contextlib.suppress(redis.RedisError):
        client.delete(clicks.visitor_key(link["link_id"], address, user_agent))


def queue_click(
    publish: Callable[[dict[str, Any]], None],
    event: dict[str, Any],
    timeout: float = QUEUE_TIMEOUT_SECONDS,
) -> bool:
    """Publish the click (`publish` waits for the broker's confirm); False when it failed or
    took longer than `timeout` (the click may then still arrive: a rare double count)."""
    try:
        with eventlet.Timeout(timeout):
            publish({"events": [event]})
    except eventlet.Timeout:
        log.error("a click on %s was not confirmed within %.1fs", event["campaign_id"], timeout)
        return False
    except Exception:
        log.exception("could not queue a click for campaign %s", event["campaign_id"])
        return False
    return True
