"""Analytics: ingestion throughput and report latency, each against a floor from the same run:
`make bench` -> bench/results/analytics.json (+ analytics.png).

Ingestion, events per second from the first send until ClickHouse holds every event:
- floor: clickhouse-driver inserting the same kind and number of events in 10k batches straight
  into the table.
- service: the analytics RPC `ingest` (checks, durable queue, batched de-duplicating writer).
- http: POST /api/v1/analytics/events through the gateway (auth, body parsing, then the above),
  bodies serialised before the clock starts.
Batches of 1,000 events, CONCURRENCY senders; `--rounds` rounds of all three (each path on a fresh
campaign), the median and range reported and the shares of the floor taken round by round.
Logging at INFO as in production (`--log-level`); `--skip-reports` measures ingestion alone.

Reports, p50/p95 over QUERY_REPEATS sequential calls on a campaign with 1M of 10M events
(generated inside ClickHouse with INSERT ... SELECT FROM system.numbers, rollup merged):
- floor: the same ClickHouse query run by the bench process itself.
- http: GET /api/v1/campaigns/{id}/analytics/... through the gateway, Redis cache off.

Everything is isolated: its own RabbitMQ vhost, PostgreSQL and ClickHouse databases, Redis db,
free ports, rate limits lifted.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from bench.gateway import NOTE, git_revision, machine, post
from bench.processes import FileLoggedStack
from bench.wrk import spread
from dependencies.clickhouse import make_client
from dependencies.postgres import sqlalchemy_url
from kernel.config import PROJECT_ROOT, load_config
from scripts.isolated_stack import NO_EDGE_LIMITS, Scratch, isolated_stack, migrate_database
from services.analytics import clickhouse_schema, figures, warehouse
from tests.analytics_reference import PLATFORMS, TYPES, WEIGHTS, generate

SCRATCH = Scratch.from_env("BENCH", "bench", redis_db=12)
CLICKHOUSE_URL = SCRATCH.clickhouse_url
INGEST_EVENTS = int(os.environ.get("BENCH_INGEST_EVENTS", "100000"))
QUERY_EVENTS = int(os.environ.get("BENCH_QUERY_EVENTS", "10000000"))
QUERY_CAMPAIGNS = 10
QUERY_REPEATS = int(os.environ.get("BENCH_QUERY_REPEATS", "40"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
BATCH = 1000
RESULTS = PROJECT_ROOT / "bench" / "results" / "analytics.json"


def stored_events(campaign_ids: list[str]) -> int:
    client = make_client(CLICKHOUSE_URL)
    try:
        return client.execute(
            "SELECT count() FROM events WHERE campaign_id IN %(ids)s", {"ids": tuple(campaign_ids)}
        )[0][0]
    finally:
        client.disconnect()


def add_campaign(engine, brand_id: str, creators: list[str]) -> str:
    campaign_id = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO analytics.campaigns (campaign_id, brand_id, status, currency, version)"
                " VALUES (:c, :b, 'published', 'EUR', 1)"
            ),
            {"c": campaign_id, "b": brand_id},
        )
        for creator in creators:
            connection.execute(
                text(
                    "INSERT INTO analytics.accepted_creators "
                    "VALUES (:c, :cr, 40000, 'EUR', now() - interval '90 days')"
                ),
                {"c": campaign_id, "cr": creator},
            )
    return campaign_id


def throughput(
    send: Callable[[Any], None],
    batches: list[Any],
    campaign_id: str,
    events_per_item: int | None = None,
) -> dict:
    """Send every batch from CONCURRENCY threads; events/s until all are in ClickHouse."""
    pending = list(batches)
    lock = threading.Lock()
    started = time.perf_counter()

    def sender() -> None:
        while True:
            with lock:
                if not pending:
                    return
                batch = pending.pop()
            send(batch)

    threads = [threading.Thread(target=sender) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    acknowledged = time.perf_counter() - started
    total = (
        len(batches) * events_per_item
        if events_per_item is not None
        else sum(len(batch) for batch in batches)
    )
    while stored_events([campaign_id]) < total:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return {
        "events": total,
        "seconds": round(elapsed, 3),
        "events_per_second": round(total / elapsed),
        "acknowledged_events_per_second": round(total / acknowledged),
    }


def floor_insert(batches: list[list[dict]]) -> dict:
    client = make_client(CLICKHOUSE_URL)
    events = [event for batch in batches for event in batch]
    started = time.perf_counter()
    for start in range(0, len(events), 10_000):
        warehouse.insert_events(client, events[start : start + 10_000])
    elapsed = time.perf_counter() - started
    client.disconnect()
    return {
        "events": len(events),
        "seconds": round(elapsed, 3),
        "events_per_second": round(len(events) / elapsed),
    }


def generate_query_events(campaign_ids: list[str], creators: list[str], now: dt.datetime) -> float:
    """QUERY_EVENTS events over the last 30 days, weighted like real traffic, made by ClickHouse."""
    weighted = [t for t, w in zip(TYPES, WEIGHTS, strict=True) for _ in range(w)]
    client = make_client(CLICKHOUSE_URL)
    started = time.perf_counter()
    client.execute(
        "INSERT INTO events (event_id, campaign_id, creator_id, event_type, ts, platform, value, "
        "country, device) "
        "SELECT generateUUIDv4(), toUUID(campaigns[number %% length(campaigns) + 1]), "
        "toUUID(creators[intDiv(number, 7) %% length(creators) + 1]), "
        "types[cityHash64(number) %% length(types) + 1], "
        "toDateTime(%(now)s - cityHash64(number, 1) %% (30 * 86400), 'UTC'), "
        "platforms[cityHash64(number, 2) %% length(platforms) + 1], "
        "if(types[cityHash64(number) %% length(types) + 1] = 'conversion', "
        "cityHash64(number, 3) %% 20000, 0), 'DE', 'mobile' "
        "FROM (SELECT number, %(campaigns)s AS campaigns, %(creators)s AS creators, "
        "%(types)s AS types, %(platforms)s AS platforms FROM system.numbers LIMIT %(n)s)",
        {
            "now": int(now.timestamp()),
            "campaigns": campaign_ids,
            "creators": creators,
            "types": weighted,
            "platforms": list(PLATFORMS),
            "n": QUERY_EVENTS,
        },
    )
    client.execute("OPTIMIZE TABLE events_hourly FINAL")
    elapsed = time.perf_counter() - started
    client.disconnect()
    return elapsed


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 2)

    return {"p50_ms": pct(0.5), "p95_ms": pct(0.95), "mean_ms": round(statistics.fmean(ordered), 2)}


def timed(call: Callable[[], object]) -> dict:
    call()  # warm up
    samples = []
    for _ in range(QUERY_REPEATS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def query_latencies(base: str, token: str, campaign_id: str, now: dt.datetime) -> dict:
    hour = now.replace(minute=0, second=0, microsecond=0)
    month = (hour - dt.timedelta(days=30), hour)
    week = (hour - dt.timedelta(days=7), hour)
    client = make_client(CLICKHOUSE_URL)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def http(report: str, **params: str) -> Callable[[], object]:
        url = f"{base}/api/v1/campaigns/{campaign_id}/analytics/{report}"

        def call() -> object:
            response = session.get(url, params=params, timeout=60)
            response.raise_for_status()
            return response

        return call

    def window(span: tuple[dt.datetime, dt.datetime]) -> dict[str, str]:
        return {"from": span[0].isoformat(), "to": span[1].isoformat()}

    cases = {
        "summary_30d": (
            lambda: warehouse.counts_by(client, campaign_id, *month, rollup=True),
            http("summary", **window(month)),
        ),
        "summary_30d_raw": (
            lambda: warehouse.counts_by(
                client, campaign_id, month[0] + dt.timedelta(minutes=1), month[1], rollup=False
            ),
            http("summary", **window((month[0] + dt.timedelta(minutes=1), month[1]))),
        ),
        "timeseries_30d_day_berlin": (
            lambda: warehouse.granule_counts(client, campaign_id, *month, rollup=True),
            http("timeseries", interval="day", tz="Europe/Berlin", **window(month)),
        ),
        "timeseries_7d_hour": (
            lambda: warehouse.granule_counts(client, campaign_id, *week, rollup=True),
            http("timeseries", interval="hour", metric="engagements", **window(week)),
        ),
        "timeseries_30d_day_kolkata_raw": (
            lambda: warehouse.granule_counts(client, campaign_id, *month, rollup=False),
            http("timeseries", interval="day", tz="Asia/Kolkata", **window(month)),
        ),
    }
    assert not figures.whole_hour_offsets(figures.zone("Asia/Kolkata"), *month)
    results = {}
    for name, (floor, through_http) in cases.items():
        results[name] = {"floor_clickhouse": timed(floor), "http": timed(through_http)}
        print(name, results[name], flush=True)
    client.disconnect()
    return results


def sign_up_brand(base: str) -> tuple[str, str]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "bench password 2026", "role": "brand"}
    registered = post(f"{base}/api/v1/auth/register", body, 201)
    login = post(f"{base}/api/v1/auth/login", {"email": email, "password": body["password"]}, 200)
    return registered.json()["id"], login.json()["access_token"]


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ingest = report["results"]["ingestion"]
    queries = report["results"]["queries"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    names = list(ingest)
    rates = [ingest[n]["events_per_second"] for n in names]
    left.bar(
        names,
        [r["median"] for r in rates],
        yerr=[[r["median"] - r["min"] for r in rates], [r["max"] - r["median"] for r in rates]],
        capsize=4,
        color="#4c72b0",
    )
    left.set_title(f"Ingestion, events/s ({INGEST_EVENTS:,} per path; median, min..max)")
    if not queries:
        right.set_visible(False)
    left.set_ylabel("events per second")
    labels = list(queries)
    positions = range(len(labels))
    width = 0.2
    for offset, (target, key, color) in enumerate(
        [
            ("floor_clickhouse", "p50_ms", "#55a868"),
            ("floor_clickhouse", "p95_ms", "#8fd19e"),
            ("http", "p50_ms", "#c44e52"),
            ("http", "p95_ms", "#e8a3a5"),
        ]
    ):
        right.bar(
            [p + (offset - 1.5) * width for p in positions],
            [queries[label][target][key] for label in labels],
            width,
            label=f"{target} {key[:3]}",
            color=color,
        )
    right.set_xticks(list(positions), labels, rotation=20, ha="right", fontsize=8)
    right.set_ylabel("ms")
    right.set_title(f"Reports on {QUERY_EVENTS:,} events (1 campaign of {QUERY_CAMPAIGNS})")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="ingestion runs per path")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of every process")
    parser.add_argument("--skip-reports", action="store_true", help="ingestion only")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def ingestion_rounds(engine, brand_id: str, token: str, base: str, env: dict, rounds: int) -> dict:
    """Each round: the floor, the service by RPC and HTTP, each on a fresh campaign with its own
    freshly generated events (the same shape and number); ratios taken within each round."""
    creators = [str(uuid.uuid4()) for _ in range(5)]
    config = {**load_config(), "AMQP_URI": env["AMQP_URI"]}
    now = dt.datetime.now(dt.UTC)
    local = threading.local()
    proxies: list = []

    def rpc_send(batch: list[dict]) -> None:
        if not hasattr(local, "proxy"):
            # the brand's own access token, relayed as the gateway does
            cluster = ClusterRpcProxy(
                config, context_data={AUTH_TOKEN_CONTEXT_KEY: token}, timeout=60
            )
            local.proxy = cluster.start()
            proxies.append(cluster)
        local.proxy.analytics.ingest({"events": batch})

    def http_send(body: bytes) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(
            f"{base}/api/v1/analytics/events",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
        )
        if response.status_code != 202:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

    runs: dict[str, list[dict]] = {"floor_clickhouse_insert": [], "service_rpc": [], "http": []}
    for round_number in range(rounds):
        seed = 10_000 * (round_number + 1)

        def fresh_batches(offset: int, seed: int = seed) -> tuple[str, list[list[dict]]]:
            campaign = add_campaign(engine, brand_id, creators)
            return campaign, [
                generate(campaign, creators, BATCH, now, days=30, seed=seed + offset + n)
                for n in range(INGEST_EVENTS // BATCH)
            ]

        _, batches = fresh_batches(1000)
        runs["floor_clickhouse_insert"].append(floor_insert(batches))
        campaign, batches = fresh_batches(2000)
        runs["service_rpc"].append(throughput(rpc_send, batches, campaign))
        campaign, batches = fresh_batches(3000)
        bodies = [json.dumps({"events": batch}).encode() for batch in batches]  # not timed
        runs["http"].append(throughput(http_send, bodies, campaign, events_per_item=BATCH))
        for name, results in runs.items():
            print(f"round {round_number + 1}/{rounds} {name}: {results[-1]}", flush=True)
    for proxy in proxies:
        proxy.stop()
    summary: dict[str, Any] = {
        name: {
            "events_per_second": spread([r["events_per_second"] for r in results]),
            "runs": results,
        }
        for name, results in runs.items()
    }
    floors = [r["events_per_second"] for r in runs["floor_clickhouse_insert"]]
    for name in ("service_rpc", "http"):
        summary[name]["share_of_floor"] = spread(
            [r["events_per_second"] / f for r, f in zip(runs[name], floors, strict=True)]
        )
    return summary


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    migrate_database(SCRATCH.database_url, CLICKHOUSE_URL)
    clickhouse_schema.drop(CLICKHOUSE_URL)
    clickhouse_schema.migrate(CLICKHOUSE_URL)
    engine = create_engine(sqlalchemy_url(SCRATCH.database_url))
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE analytics.campaigns, analytics.accepted_creators, analytics.seen_events")
        )
    env = {**NO_EDGE_LIMITS, "ANALYTICS_REPORT_CACHE_SECONDS": "0", "LOG_LEVEL": args.log_level}
    wanted = {"auth", "users", "campaigns", "analytics", "analytics_writer", "gateway_http"}
    started_at = dt.datetime.now(dt.UTC)
    machine_info = machine()
    now = dt.datetime.now(dt.UTC)
    queries: dict = {}
    generated_in = 0.0
    harness = isolated_stack(
        SCRATCH,
        env,
        choose=lambda processes: [p for p in processes if p.name in wanted],
        stack_class=FileLoggedStack,
        migrate_stores=False,  # migrated above, ClickHouse from scratch
    )
    try:
        with harness as running:
            base = running.base_url
            brand_id, token = sign_up_brand(base)
            ingestion = ingestion_rounds(engine, brand_id, token, base, running.env, args.rounds)
            if not args.skip_reports:
                creators = [str(uuid.uuid4()) for _ in range(5)]
                campaigns = [add_campaign(engine, brand_id, []) for _ in range(QUERY_CAMPAIGNS)]
                generated_in = generate_query_events(campaigns, creators, now)
                print(f"generated {QUERY_EVENTS} events in {generated_in:.1f}s", flush=True)
                queries = query_latencies(base, token, campaigns[0], now)
    finally:
        engine.dispose()
    report = {
        "benchmark": "analytics",
        "note": NOTE,
        "timestamp": started_at.isoformat(timespec="seconds"),
        "git": git_revision(),
        "log_level": args.log_level,
        "machine": {
            **machine_info,
            "clickhouse": make_client(CLICKHOUSE_URL, "default").execute("SELECT version()")[0][0],
        },
        "parameters": {
            "ingest_events_per_path": INGEST_EVENTS,
            "batch": BATCH,
            "concurrency": CONCURRENCY,
            "rounds": args.rounds,
            "query_events": QUERY_EVENTS,
            "query_campaigns": QUERY_CAMPAIGNS,
            "query_repeats": QUERY_REPEATS,
            "query_events_generated_seconds": round(generated_in, 1),
        },
        "results": {"ingestion": ingestion, "queries": queries},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.output.with_suffix(".png"))
    for name in ("service_rpc", "http"):
        print(f"{name}: share of floor {ingestion[name]['share_of_floor']}", flush=True)
    print(f"wrote {args.output} and its .png", file=sys.stderr)


if __name__ == "__main__":
    main()
