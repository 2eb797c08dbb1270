"""Demo data on the running stack (`make run` in another terminal), through the public API:
brands with profiles, creators with platforms, campaigns in every state, applications in every
status, deliverables of the accepted creators in every review state (approved, changes requested,
resubmitted, awaiting review), two weeks of analytics events for every campaign with an accepted
creator, and a conversation with a few messages between brand@demo and creator@demo.
Idempotent: existing accounts are reused, a brand that already has campaigns gets no new ones
(nor deliverables) and the chat's messages are re-sent with the same client_msg_ids (stored
once).
"""

import datetime as dt
import os
import random
import sys
import time
import uuid
from typing import Any

import requests

BASE_URL = os.environ.get("API_URL", "http://127.0.0.1:8000/api/v1")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo password 2026")
RANDOM = random.Random(2026)  # noqa: S311 - demo data, the same every time

BRANDS = [
    ("brand@demo.example.com", "Northwind Outdoor", "outdoor gear", "DE", ["outdoors", "travel"]),
    ("glow@demo.example.com", "Glow Lab", "cosmetics", "FR", ["beauty", "fashion"]),
    ("pixel@demo.example.com", "Pixelforge", "gaming hardware", "US", ["gaming", "tech"]),
]
CREATORS = [
    (
        "creator@demo.example.com",
        "Ava Trails",
        "Alpine hikes and honest gear reviews",
        "DE",
        ["outdoors", "travel"],
        [("instagram", 85_000, 0.045), ("youtube", 32_000, 0.06)],
        ["de", "en"],
    ),
    (
        "lina@demo.example.com",
        "Lina Glow",
        "Skincare routines that actually work",
        "FR",
        ["beauty"],
        [("tiktok", 410_000, 0.07), ("instagram", 120_000, 0.035)],
        ["fr", "en"],
    ),
    (
        "max@demo.example.com",
        "Max Frames",
        "Speedruns and hardware teardowns",
        "US",
        ["gaming", "tech"],
        [("twitch", 260_000, 0.03), ("youtube", 540_000, 0.025)],
        ["en"],
    ),
    (
        "sofia@demo.example.com",
        "Sofia Eats",
        "Vegan street food across Europe",
        "ES",
        ["food", "travel"],
        [("instagram", 64_000, 0.055)],
        ["es", "en"],
    ),
    (
        "jonas@demo.example.com",
        "Jonas Lift",
        "Strength training for beginners",
        "DE",
        ["fitness", "sports"],
        [("youtube", 150_000, 0.04), ("tiktok", 90_000, 0.08)],
        ["de"],
    ),
    (
        "mei@demo.example.com",
        "Mei Codes",
        "Gadgets, apps and desk setups",
        "GB",
        ["tech", "lifestyle"],
        [("youtube", 72_000, 0.05), ("x", 40_000, 0.02)],
        ["en"],
    ),
    (
        "tom@demo.example.com",
        "Tom Wild",
        "Wild camping and bushcraft",
        "AT",
        ["outdoors"],
        [("instagram", 23_000, 0.09), ("youtube", 12_000, 0.07)],
        ["de", "en"],
    ),
    (
        "nora@demo.example.com",
        "Nora Style",
        "Slow fashion and thrift finds",
        "FR",
        ["fashion", "lifestyle"],
        [("instagram", 310_000, 0.03)],
        ["fr"],
    ),
]


class Api:
    def __init__(self) -> None:
        self.session = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.session.request(
            method, f"{BASE_URL}{path}", headers=headers, timeout=15, **kwargs
        )
        if response.status_code >= 400:
            sys.exit(f"{method} {path} failed: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def ingest(self, token: str, events: list[dict[str, Any]], wait_seconds: float = 30) -> None:
        """Analytics learns of an accept from an event; until then the creator is refused."""
        deadline = time.monotonic() + wait_seconds
        while True:
            response = self.session.post(
                f"{BASE_URL}/analytics/events",
                json={"events": events},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            if response.status_code == 202:
                return
            waiting = response.status_code == 422 and all(
                e["code"] == "creator_not_on_campaign" for e in response.json()["errors"]
            )
            if not waiting or time.monotonic() > deadline:
                sys.exit(f"ingesting events failed: {response.status_code} {response.text}")
            time.sleep(0.5)

    def account(self, email: str, role: str, name: str) -> tuple[str, str]:
        body = {"email": email, "password": DEMO_PASSWORD, "role": role, "display_name": name}
        registered = self.session.post(f"{BASE_URL}/auth/register", json=body, timeout=15)
        if registered.status_code not in (201, 409):
            sys.exit(f"registering {email} failed: {registered.text}")
        print(f"{'created' if registered.status_code == 201 else 'exists '} {role:7} {email}")
        tokens = self.call("POST", "/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        me = self.call("GET", "/me", tokens["access_token"])
        return me["id"], tokens["access_token"]


def campaign_body(title: str, niches: list[str], platform: str, days: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "title": title,
        "brief": f"{title}: show our product in your own voice, on {platform}.",
        "objectives": ["awareness", "conversions"],
        "niches": niches,
        "platforms": [platform],
        "deliverables": [
            {
                "type": "reel" if platform != "twitch" else "stream",
                "platform": platform,
                "quantity": RANDOM.randint(2, 5),
            }
        ],
        "budget": {"amount": RANDOM.randint(5, 200) * 10_000, "currency": "EUR"},
        "compensation": RANDOM.choice(["fixed", "per_deliverable", "gifting", "affiliate"]),
        "application_deadline": (now + dt.timedelta(days=days)).isoformat(),
        "starts_at": (now + dt.timedelta(days=days + 3)).isoformat(),
        "ends_at": (now + dt.timedelta(days=days + 40)).isoformat(),
        "max_creators": RANDOM.randint(2, 8),
        "requirements": {"min_followers": 10_000, "countries": []},
    }


def main() -> None:
    try:
        requests.get(f"{BASE_URL}/openapi.json", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        sys.exit(f"the stack is not answering at {BASE_URL} ({exc}); start it with `make run`")
    api = Api()
    creators = []
    for email, name, bio, country, niches, platforms, languages in CREATORS:
        user_id, token = api.account(email, "creator", name)
        profile = {
            "display_name": name,
            "portfolio_url": f"https://{email.split('@')[0]}.demo.example.com",
            "bio": bio,
            "niches": niches,
            "platforms": [
                {
                    "platform": p,
                    "handle": f"@{name.lower().replace(' ', '')}",
                    "followers": f,
                    "engagement_rate": e,
                }
                for p, f, e in platforms
            ],
            "country": country,
            "languages": languages,
            "rate_card": [
                {
                    "deliverable": "post",
                    "platform": platforms[0][0],
                    "rate": {"amount": platforms[0][1] // 10 * 10, "currency": "EUR"},
                }
            ],
        }
        api.call("PUT", "/me/profile", token, json=profile)
        creators.append((user_id, token, {p for p, _, _ in platforms}))

    brand_tokens = {}
    for email, company, industry, country, niches in BRANDS:
        _, token = api.account(email, "brand", company)
        brand_tokens[email] = token
        api.call(
            "PUT",
            "/me/profile",
            token,
            json={
                "company_name": company,
                "website": f"https://{email.split('@')[0]}.demo.example.com",
                "industry": industry,
                "country": country,
                "description": f"{company} makes {industry}.",
            },
        )
        if api.call("GET", "/campaigns?mine=true", token)["items"]:
            print(f"exists  campaigns of {company}")
            continue
        seed_campaigns(api, token, company, niches, creators)
    seed_chat(api, brand_tokens[BRANDS[0][0]], creators[0][0], creators[0][1])
    print(f"demo password for every account: {DEMO_PASSWORD!r}")


CHAT = [
    ("brand", "Hi Ava, thanks for applying! Could you film on the Zugspitze trail?"),
    ("creator", "Hi! Yes, I'm there next weekend. Two reels and a story?"),
    ("brand", "Perfect. We'll ship the boots on Monday."),
    ("creator", "Great, I'll send drafts by Friday."),
]


def seed_chat(api: Api, brand_token: str, creator_id: str, creator_token: str) -> None:
    """A conversation between the first demo brand and creator, with a few messages. Re-running
    re-sends the same client_msg_ids, which the chat answers with the stored messages."""
    received = api.call("GET", "/applications?limit=100", brand_token)["items"]
    application = next((a for a in received if a["creator_id"] == creator_id), None)
    if application is None:
        print("no application from the demo creator to the demo brand: no chat seeded")
        return
    conversation = api.call(
        "POST", "/conversations", brand_token, json={"application_id": application["id"]}
    )
    tokens = {"brand": brand_token, "creator": creator_token}
    for number, (who, body) in enumerate(CHAT):
        api.call(
            "POST",
            f"/conversations/{conversation['id']}/messages",
            tokens[who],
            json={"client_msg_id": f"seed-{number}", "body": body},
        )
    print(f"chat     {conversation['id']} ({len(CHAT)} messages)")


TITLES = ["spring drop", "summer launch", "creator week", "holiday edit", "next season"]


def seed_campaigns(
    api: Api, token: str, company: str, niches: list[str], creators: list[Any]
) -> None:
    platforms = ["instagram", "youtube", "tiktok", "twitch"]
    states = ["published", "published", "paused", "closed", "draft"]
    for number, state in enumerate(states):
        platform = platforms[number % len(platforms)]
        title = f"{company} {TITLES[number]}"
        campaign = api.call(
            "POST",
            "/campaigns",
            token,
            json=campaign_body(title, niches, platform, 10 + number * 5),
        )
        cid = campaign["id"]
        if state == "draft":
            print(f"campaign {state:9} {title}")
            continue
        api.call("POST", f"/campaigns/{cid}/publish", token)
        eligible = [c for c in creators if platform in c[2]]
        applications = []
        deliverables: list[str] = []
        tokens_by_creator = {}
        for creator_id, creator_token, _ in eligible:
            tokens_by_creator[creator_id] = creator_token
            applications.append(
                api.call(
                    "POST",
                    f"/campaigns/{cid}/applications",
                    creator_token,
                    json={
                        "pitch": "I would love to tell my audience about this.",
                        "proposed_rate": {
                            "amount": RANDOM.randint(2, 50) * 10_000,
                            "currency": "EUR",
                        },
                    },
                )
            )
        for application, action in zip(
            applications, ["accept", "shortlist", "reject"], strict=False
        ):
            api.call("POST", f"/applications/{application['id']}/{action}", token)
            if action == "accept":
                deliverables = seed_deliverables(
                    api, token, tokens_by_creator[application["creator_id"]], application, campaign
                )
                events = demo_events(cid, application["creator_id"], platform)
                for start in range(0, len(events), 1000):
                    api.ingest(token, events[start : start + 1000])
        if state in ("paused", "closed"):
            api.call("POST", f"/campaigns/{cid}/pause", token)
        if state == "closed":
            api.call("POST", f"/campaigns/{cid}/close", token)
        print(
            f"campaign {state:9} {title} ({len(applications)} applications, analytics events"
            f"{', deliverables ' + ' '.join(deliverables) if deliverables else ''})"
        )


DELIVERABLE_STATES = ["approved", "changes_requested", "resubmitted", "submitted"]


def seed_deliverables(
    api: Api, brand_token: str, creator_token: str, application: dict[str, Any], campaign: dict
) -> list[str]:
    """The accepted creator submits all but one piece the campaign owes (the last is left for
    the README's walkthrough); the brand reviews each into a different state, so the demo shows
    every step of the review."""
    owed = campaign["deliverables"][0]
    offset = RANDOM.randrange(len(DELIVERABLE_STATES))
    states = []
    for number in range(owed["quantity"] - 1):
        state = DELIVERABLE_STATES[(offset + number) % len(DELIVERABLE_STATES)]
        slug = uuid.uuid4().hex[:10]
        item = api.call(
            "POST",
            f"/applications/{application['id']}/deliverables",
            creator_token,
            json={
                "type": owed["type"],
                "platform": owed["platform"],
                "url": f"https://{owed['platform']}.example.com/p/{slug}",
                "caption": f"My {owed['type']} for this campaign, take {number + 1}",
                "posted_at": dt.datetime.now(dt.UTC).isoformat(),
            },
        )
        one = f"/deliverables/{item['id']}"
        if state == "approved":
            api.call("POST", f"{one}/approve", brand_token)
        if state in ("changes_requested", "resubmitted"):
            note = {"note": "Lovely! Could the product be visible in the first three seconds?"}
            api.call("POST", f"{one}/request-changes", brand_token, json=note)
        if state == "resubmitted":
            api.call(
                "PUT",
                one,
                creator_token,
                json={"url": f"https://{owed['platform']}.example.com/p/{slug}-v2"},
            )
        states.append(state)
    return states


EVENT_MIX = [
    ("impression", 70),
    ("view", 14),
    ("click", 6),
    ("like", 5),
    ("comment", 1),
    ("share", 1),
    ("save", 1),
    ("follow", 1),
    ("conversion", 1),
]


def demo_events(campaign_id: str, creator_id: str, platform: str) -> list[dict[str, Any]]:
    """Two weeks of a post's life: busy at first, then tailing off; a few conversions."""
    now = dt.datetime.now(dt.UTC)
    types, weights = zip(*EVENT_MIX, strict=True)
    events = []
    for _ in range(RANDOM.randint(2500, 4000)):
        age = dt.timedelta(seconds=int(RANDOM.triangular(60, 14 * 86400, 60)))
        event_type = RANDOM.choices(types, weights)[0]
        events.append(
            {
                "event_id": str(uuid.UUID(int=RANDOM.getrandbits(128), version=4)),
                "campaign_id": campaign_id,
                "creator_id": creator_id,
                "event_type": event_type,
                "ts": (now - age).isoformat(),
                "platform": platform,
                "value": RANDOM.randint(15, 120) * 100 if event_type == "conversion" else 0,
                "country": RANDOM.choice(["DE", "FR", "US", "ES", "AT"]),
                "device": RANDOM.choice(["mobile", "mobile", "mobile", "desktop", "tablet"]),
            }
        )
    return events


if __name__ == "__main__":
    main()
