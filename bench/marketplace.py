"""Marketplace read paths under load, each against a bare Nameko @http floor from the same run:
`make bench` -> bench/results/marketplace.json (+ marketplace.png).

Every target is driven by wrk with the same threads, connections, warm-up and duration, `--rounds`
times alternating targets (median and range reported, ratios taken round by round); paths of a
target are requested in turn. Logging at INFO as in production (`--log-level`).

- floor: bench.floor_service's bare Nameko @http entrypoint returning the exact bytes the gateway
  answered for the public campaign list (no auth, no RPC, no database): the cost of Nameko's HTTP
  stack alone on this machine at this moment.
- campaigns_cached: GET /api/v1/campaigns (public list, served from the Redis cache).
- creators_discovery: GET /api/v1/creators with filters + sort, over 100k creators.
- creators_text_search: GET /api/v1/creators?q=... (PostgreSQL full-text) over 100k creators.

The 100k creators and 1k campaigns are bulk-inserted straight into an isolated bench database
(BENCH_DATABASE_URL); the stack runs in its own vhost, Redis db and ports, rate limits lifted.
"""

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bench.gateway import exit_status, machine, report_head, sign_in, target_results, write_report
from bench.processes import FileLoggedStack, floor_process
from bench.wrk import Target, WrkSettings, measure_targets, round_ratios, summarize, wrk_arguments
from dependencies.postgres import sqlalchemy_url
from kernel.config import PROJECT_ROOT
from scripts.isolated_stack import (
    NO_EDGE_LIMITS,
    Scratch,
    free_port,
    isolated_stack,
    migrate_database,
)

SCRATCH = Scratch.from_env("BENCH", "bench", redis_db=13)
CREATORS = int(os.environ.get("BENCH_CREATORS", "100000"))
CAMPAIGNS = int(os.environ.get("BENCH_CAMPAIGNS", "1000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
RESULTS = PROJECT_ROOT / "bench" / "results" / "marketplace.json"
TARGETS = ("floor", "campaigns_cached", "creators_discovery", "creators_text_search")


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
    migrate_database(SCRATCH.database_url, SCRATCH.clickhouse_url)
    engine = create_engine(sqlalchemy_url(SCRATCH.database_url))
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(parser, duration=SECONDS, connections=CONCURRENCY, rounds=3)
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of every process")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated targets to measure (the floor always is): {', '.join(TARGETS)}",
    )
    args = parser.parse_args(argv)
    chosen = {name.strip() for name in args.targets.split(",") if name.strip()} | {"floor"}
    if chosen - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(chosen - set(TARGETS)))}")
    args.targets = [name for name in TARGETS if name in chosen]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_database()
    floor_port = free_port()
    env = {**NO_EDGE_LIMITS, "LOG_LEVEL": args.log_level}
    body_file = Path(tempfile.mkdtemp(prefix="bench-marketplace-")) / "campaigns.json"
    started_at = dt.datetime.now(dt.UTC)
    machine_info = machine()
    settings = WrkSettings(args.threads, args.connections, args.duration)
    harness = isolated_stack(
        SCRATCH,
        env,
        other_ports=(floor_port,),
        stack_class=FileLoggedStack,
        migrate_stores=False,  # prepare_database migrated and seeded
    )
    with harness as running, contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, body_file.parent, ignore_errors=True)
        base = running.base_url
        auth = {"Authorization": f"Bearer {sign_in(base)}"}
        page = requests.get(f"{base}/api/v1/campaigns", headers=auth, timeout=30)
        page.raise_for_status()
        body_file.write_bytes(page.content)
        floor = floor_process("floor", "bench.floor_service:FloorService", floor_port)
        cleanup.enter_context(running.beside([floor], {"FLOOR_BODY_FILE": str(body_file)}))
        targets = {
            "floor": Target(f"http://127.0.0.1:{floor_port}", ("/floor",), auth),
            "campaigns_cached": Target(base, ("/api/v1/campaigns",), auth),
            "creators_discovery": Target(
                base,
                (
                    "/api/v1/creators?niche=gaming&min_followers=100000&sort=-followers",
                    "/api/v1/creators?platform=youtube&country=DE&sort=-engagement",
                    "/api/v1/creators?language=fr&min_engagement=0.05&max_followers=500000",
                    "/api/v1/creators?sort=-followers",
                ),
                auth,
            ),
            "creators_text_search": Target(
                base, ("/api/v1/creators?q=hiking", "/api/v1/creators?q=handle4242"), auth
            ),
        }
        targets = {name: targets[name] for name in args.targets}
        for target in targets.values():  # every path answers before anything is measured
            for path in target.paths:
                requests.get(target.base_url + path, headers=auth, timeout=30).raise_for_status()
        runs = measure_targets(targets, settings, args.warmup, args.rounds)
    summaries = {name: summarize(results) for name, results in runs.items()}
    report = {
        **report_head(
            "marketplace read paths vs a bare Nameko @http floor serving the same page",
            started_at,
            machine_info,
            args,
            settings,
        ),
        "parameters": {"creators": CREATORS, "campaigns": CAMPAIGNS},
        "ratio_over_floor": {
            name: round_ratios(runs[name], runs["floor"]) for name in targets if name != "floor"
        },
        **target_results(targets, runs, summaries),
    }
    write_report(args.output, report, summaries, "Marketplace reads vs bare @http")
    for name, ratios in report["ratio_over_floor"].items():
        print(f"{name}: throughput over floor {ratios['throughput']}", flush=True)
    print(f"wrote {args.output}", file=sys.stderr)
    return exit_status(summaries)


if __name__ == "__main__":
    sys.exit(main())
