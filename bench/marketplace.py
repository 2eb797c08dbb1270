"""Marketplace read paths under load, each against a bare Nameko @http floor from the same run:
`make bench` -> bench/results/marketplace.json.

- floor: a Nameko @http entrypoint returning a fixed JSON page (no auth, no RPC, no database):
  the cost of Nameko's HTTP stack alone on this machine at this moment. (A minimal floor of its
  own; another bench module may provide a shared one: unify when both exist.)
- campaigns_cached: GET /api/v1/campaigns (public list, served from the Redis cache).
- creators_discovery: GET /api/v1/creators with filters + sort, over 100k creators.
- creators_text_search: GET /api/v1/creators?q=... (PostgreSQL full-text) over 100k creators.

The 100k creators and 1k campaigns are bulk-inserted straight into an isolated bench database
(BENCH_DATABASE_URL); the stack runs in its own vhost, Redis db and ports, rate limits lifted.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests
from nameko.web.handlers import http
from sqlalchemy import create_engine, text

from dependencies.postgres import sqlalchemy_url
from scripts.isolated_stack import (
    delete_vhost,
    free_metrics_base,
    free_port,
    fresh_vhost,
    migrate_database,
)
from scripts.stack import NAMEKO, Process, Stack, default_processes
from services.common.config import PROJECT_ROOT

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/influencer_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
VHOST = os.environ.get("BENCH_VHOST", "influencer_bench")
CREATORS = int(os.environ.get("BENCH_CREATORS", "100000"))
CAMPAIGNS = int(os.environ.get("BENCH_CAMPAIGNS", "1000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
RESULTS = PROJECT_ROOT / "bench" / "results" / "marketplace.json"
FLOOR_BODY = json.dumps(
    {"items": [{"id": str(uuid.uuid4()), "n": n} for n in range(20)], "next_cursor": None}
)


class FloorService:
    """The floor: Nameko's @http with nothing behind it."""

    name = "bench_floor"

    @http("GET", "/floor")
    def floor(self, request):
        return 200, {"Content-Type": "application/json"}, FLOOR_BODY


SEED_CREATORS = """
INSERT INTO users.creator_profiles (user_id, email, display_name, portfolio_url, bio, niches,
    platforms, country, languages, rate_card, platform_names, handles, followers_total,
    engagement_rate)
SELECT gen_random_uuid(), 'c' || n || '@bench.example.com', 'Creator ' || n,
    'https://c' || n || '.example.com',
    (ARRAY['hiking', 'recipes', 'speedruns', 'skincare', 'gadgets', 'travel', 'lifting'])[1 + n % 7]
        || ' stories number ' || n,
    ARRAY[(ARRAY['outdoors','food','gaming','beauty','tech','travel','fitness'])[1 + n % 7]],
    jsonb_build_array(jsonb_build_object('platform',
        (ARRAY['instagram','tiktok','youtube','twitch','x','other'])[1 + n % 6],
        'handle', 'handle' || n, 'followers', (n * 7919) % 2000000,
        'engagement_rate', ((n * 31) % 1000) / 10000.0)),
    (ARRAY['DE','FR','US','GB','ES','IT','AT','NL'])[1 + n % 8],
    ARRAY[(ARRAY['de','fr','en','es','it'])[1 + n % 5]],
    '[]'::jsonb,
    ARRAY[(ARRAY['instagram','tiktok','youtube','twitch','x','other'])[1 + n % 6]],
    'handle' || n, (n * 7919) % 2000000, ((n * 31) % 1000) / 10000.0
FROM generate_series(1, :count) AS n
"""

SEED_CAMPAIGNS = """
INSERT INTO campaigns.campaigns (id, brand_id, status, title, brief, objectives, niches,
    platforms, deliverables, budget_amount, budget_currency, compensation, application_deadline,
    starts_at, ends_at, max_creators, min_followers, countries, version, published_at)
SELECT gen_random_uuid(), gen_random_uuid(), 'published', 'Campaign ' || n,
    'Brief for campaign ' || n, ARRAY['awareness'],
    ARRAY[(ARRAY['outdoors','food','gaming','beauty','tech'])[1 + n % 5]], ARRAY['instagram'],
    '[{"type": "reel", "platform": "instagram", "quantity": 2}]'::jsonb, 10000 * (1 + n % 500),
    'EUR', 'fixed', now() + interval '10 days', now() + interval '14 days',
    now() + interval '40 days', 5, 0, '{}', 1, now()
FROM generate_series(1, :count) AS n
"""


def prepare_database() -> None:
    migrate_database(DATABASE_URL)
    engine = create_engine(sqlalchemy_url(DATABASE_URL))
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE users.creator_profiles, campaigns.campaigns"))
        started = time.perf_counter()
        connection.execute(text(SEED_CREATORS), {"count": CREATORS})
        connection.execute(text(SEED_CAMPAIGNS), {"count": CAMPAIGNS})
        print(
            f"seeded {CREATORS} creators, {CAMPAIGNS} campaigns in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE users.creator_profiles"))
        connection.execute(text("VACUUM ANALYZE campaigns.campaigns"))
    engine.dispose()


def brand_token(base: str) -> str:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    password = "bench password 2026"
    body = {"email": email, "password": password, "role": "brand"}
    requests.post(f"{base}/api/v1/auth/register", json=body, timeout=10).raise_for_status()
    login = requests.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    )
    login.raise_for_status()
    return login.json()["access_token"]


def load(urls: list[str], headers: dict[str, str]) -> dict[str, float]:
    """CONCURRENCY clients for SECONDS, cycling through `urls`; latency percentiles in ms."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS

    def client(offset: int) -> None:
        session = requests.Session()
        index = offset
        mine: list[float] = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            response = session.get(urls[index % len(urls)], headers=headers, timeout=30)
            mine.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors[0] += 1
            index += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 2)

    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": round(len(latencies) / SECONDS, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def main() -> None:
    prepare_database()
    gateway_port, floor_port = free_port(), free_port()
    env = {
        "AMQP_URI": fresh_vhost(VHOST),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_PER_IP": "10000000/minute",
        "RATE_LIMIT_PER_SUBJECT": "10000000/minute",
        "LOGIN_FAILURES_PER_IP": "10000000/minute",
        "REGISTRATIONS_PER_IP": "10000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    floor = Process(
        "floor",
        [*NAMEKO, "bench.marketplace:FloorService"],
        env={"GATEWAY_ADDRESS": f"127.0.0.1:{floor_port}"},
        http_health=f"http://127.0.0.1:{floor_port}/floor",
    )
    stack = Stack(
        [
            *default_processes(gateway_port, metrics_base=free_metrics_base(avoid=(gateway_port,))),
            floor,
        ],
        env=env,
        echo=False,
    )
    stack.start()
    try:
        stack.wait_ready(timeout=120)
        base = f"http://127.0.0.1:{gateway_port}"
        auth = {"Authorization": f"Bearer {brand_token(base)}"}
        scenarios = {
            "floor": ([f"http://127.0.0.1:{floor_port}/floor"], {}),
            "campaigns_cached": ([f"{base}/api/v1/campaigns"], auth),
            "creators_discovery": (
                [
                    f"{base}/api/v1/creators?niche=gaming&min_followers=100000&sort=-followers",
                    f"{base}/api/v1/creators?platform=youtube&country=DE&sort=-engagement",
                    f"{base}/api/v1/creators?language=fr&min_engagement=0.05&max_followers=500000",
                    f"{base}/api/v1/creators?sort=-followers",
                ],
                auth,
            ),
            "creators_text_search": (
                [f"{base}/api/v1/creators?q=hiking", f"{base}/api/v1/creators?q=handle4242"],
                auth,
            ),
        }
        for urls, headers in scenarios.values():  # warm caches and connection pools
            for url in urls:
                requests.get(url, headers=headers, timeout=30).raise_for_status()
        results = {}
        for name, (urls, headers) in scenarios.items():
            results[name] = load(urls, headers)
            print(name, results[name], flush=True)
    finally:
        stack.stop()
        delete_vhost(VHOST)
    floor_p50 = results["floor"]["p50_ms"]
    for name, result in results.items():
        if name != "floor":
            result["p50_over_floor"] = round(result["p50_ms"] / floor_p50, 2)
            result["rps_share_of_floor"] = round(result["rps"] / results["floor"]["rps"], 3)
    report = {
        "benchmark": "marketplace",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {
            "creators": CREATORS,
            "campaigns": CAMPAIGNS,
            "seconds": SECONDS,
            "concurrency": CONCURRENCY,
        },
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            check=False,
        ).stdout.strip(),
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {Path(RESULTS).relative_to(PROJECT_ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
