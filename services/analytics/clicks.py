"""Pure rules of tracking-link clicks, shared by the analytics service and the gateway's public
redirect (`GET /t/{code}`): link codes, click ids, which user agents are bots, who counts as the
same visitor, and the click event put on the ingestion queue. No I/O here."""

import datetime as dt
import hashlib
import re
import secrets
import string
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The queue the analytics batch writer consumes (durable; messages are {"events": [...]}).
INGEST_QUEUE_NAME = "analytics.ingest"
INGEST_QUEUE_OWNER = "analytics"  # its dead-letter exchange: analytics.dead-letter

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 12  # 62**12 ~ 3.2e21 codes (71 bits): not enumerable at any request rate we allow
CODE_PATTERN = re.compile(r"^[A-Za-z0-9]{8,32}$")
CLICK_ID_PATTERN = re.compile(r"^(?P<code>[A-Za-z0-9]{8,32})\.(?P<click>[0-9a-f]{32})$")
CLICK_ID_PARAMETER = "click_id"

# A repeated click by the same visitor (address + user agent) within this window counts once.
DEDUPE_SECONDS = 30 * 60

# User agents that are not people: crawlers, link unfurlers of chat and social apps, uptime
# monitors, HTTP libraries and command-line clients. Matched case-insensitively anywhere in the
# User-Agent; an empty User-Agent is a bot too. docs/decisions.md "Tracking links" lists them.
BOT_USER_AGENT_MARKERS = (
    "bot",
    "crawler",
    "spider",
    "slurp",
    "crawl",
    "facebookexternalhit",
    "facebookcatalog",
    "embedly",
    "quora link preview",
    "vkshare",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "slackbot",
    "skypeuripreview",
    "bitlybot",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "pingdom",
    "uptimerobot",
    "statuscake",
    "monitor",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "postmanruntime",
)
BOT_PATTERN = re.compile("|".join(re.escape(marker) for marker in BOT_USER_AGENT_MARKERS), re.I)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_code(value: str) -> bool:
    return bool(CODE_PATTERN.match(value))


def is_bot(user_agent: str | None) -> bool:
    return not user_agent or not user_agent.strip() or bool(BOT_PATTERN.search(user_agent))


def visitor_key(link_id: str, address: str | None, user_agent: str | None) -> str:
    """The Redis key that marks a visitor's click on a link. Hashed: no address is stored."""
    digest = hashlib.sha256(f"{address or ''}\n{user_agent or ''}".encode()).hexdigest()
    return f"tl:visit:{link_id}:{digest[:32]}"


def new_click_id(code: str) -> str:
    """`<code>.<32 hex>`: the link is readable from it, so a conversion postback needs nothing
    else to be attributed, and the hex part is the click event's id."""
    return f"{code}.{uuid.uuid4().hex}"


def parse_click_id(click_id: str) -> tuple[str, uuid.UUID] | None:
    match = CLICK_ID_PATTERN.match(click_id)
    if match is None:
        return None
    return match["code"], uuid.UUID(hex=match["click"])


def with_click_id(destination: str, click_id: str) -> str:
    """The destination with `click_id=` added to its query (replacing one already there), so the
    shop can send it back with the order."""
    parts = urlsplit(destination)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k != CLICK_ID_PARAMETER]
    query.append((CLICK_ID_PARAMETER, click_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def device_of(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    agent = user_agent.lower()
    if "ipad" in agent or "tablet" in agent:
        return "tablet"
    if "mobi" in agent or "android" in agent or "iphone" in agent:
        return "mobile"
    return "desktop"


def click_event(
    link: dict[str, Any], click_id: str, user_agent: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The analytics event (JSON form, like a validated ingested one) for one counted click."""
    parsed = parse_click_id(click_id)
    assert parsed is not None
    return {
        "event_id": str(parsed[1]),
        "campaign_id": link["campaign_id"],
        "creator_id": link["creator_id"],
        "event_type": "click",
        "ts": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "platform": link["platform"],
        "value": 0,
        "country": None,
        "device": device_of(user_agent),
    }
