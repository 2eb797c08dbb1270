"""Analytics: ingestion throughput and report latency, each against a floor from the same run:
`make bench` -> bench/results/analytics.json (+ analytics.png).

Ingestion, events per second from the first send until ClickHouse holds every event:
- floor: clickhouse-driver inserting the same events in 10k batches straight into the table.
- service: the analytics RPC `ingest` (checks, durable queue, batched de-duplicating writer).
- http: POST /api/v1/analytics/events through the gateway (auth, body parsing, then the above).
Batches of 1,000 events, CONCURRENCY senders.

Reports, p50/p95 over QUERY_REPEATS sequential calls on a campaign with 1M of 10M events
(generated inside ClickHouse with INSERT ... SELECT FROM system.numbers, rollup merged):
- floor: the same ClickHouse query run by the bench process itself.
- http: GET /api/v1/campaigns/{id}/analytics/... through the gateway, Redis cache off.

Everything is isolated: its own RabbitMQ vhost, PostgreSQL and ClickHouse databases, Redis db,
free ports, rate limits lifted.
"""

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from dependencies.clickhouse import make_client
from dependencies.postgres import sqlalchemy_url
from scripts.isolated_stack import (
    delete_vhost,
    free_metrics_base,
    free_port,
    fresh_vhost,
    migrate_database,
)
from scripts.stack import Stack, default_processes
from services.analytics import clickhouse_schema, figures, warehouse
from services.common.config import PROJECT_ROOT, load_config
from tests.analytics_reference import PLATFORMS, TYPES, WEIGHTS, generate

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/influencer_bench"
)
CLICKHOUSE_URL = os.environ.get(
    "BENCH_CLICKHOUSE_URL", "clickhouse://default@127.0.0.1:9000/analytics_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
VHOST = os.environ.get("BENCH_VHOST", "influencer_bench")
INGEST_EVENTS = int(os.environ.get("BENCH_INGEST_EVENTS", "100000"))
QUERY_EVENTS = int(os.environ.get("BENCH_QUERY_EVENTS", "10000000"))
QUERY_CAMPAIGNS = 10
QUERY_REPEATS = int(os.environ.get("BENCH_QUERY_REPEATS", "40"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
BATCH = 1000
RESULTS = PROJECT_ROOT / "bench" / "results" / "analytics.json"
PLOT = RESULTS.with_suffix(".png")


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
                    "INSERT INTO analytics.accepted_creators VALUES (:c, :cr, 40000, 'EUR', now())"
                ),
                {"c": campaign_id, "cr": creator},
            )
    return campaign_id


def throughput(
    send: Callable[[list[dict]], None], batches: list[list[dict]], campaign_id: str
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
    total = sum(len(batch) for batch in batches)
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
    registered = requests.post(f"{base}/api/v1/auth/register", json=body, timeout=10)
    registered.raise_for_status()
    login = requests.post(
        f"{base}/api/v1/auth/login",
        json={"email": email, "password": body["password"]},
        timeout=10,
    )
    login.raise_for_status()
    return registered.json()["id"], login.json()["access_token"]


def plot(report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ingest = report["results"]["ingestion"]
    queries = report["results"]["queries"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    names = list(ingest)
    left.bar(names, [ingest[n]["events_per_second"] for n in names], color="#4c72b0")
    left.set_title(f"Ingestion, events/s ({INGEST_EVENTS:,} events per path)")
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
    fig.savefig(PLOT, dpi=100)


def main() -> None:
    migrate_database(DATABASE_URL, CLICKHOUSE_URL)
    clickhouse_schema.drop(CLICKHOUSE_URL)
    clickhouse_schema.migrate(CLICKHOUSE_URL)
    engine = create_engine(sqlalchemy_url(DATABASE_URL))
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE analytics.campaigns, analytics.accepted_creators, analytics.seen_events")
        )
    gateway_port = free_port()
    env = {
        "AMQP_URI": fresh_vhost(VHOST),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CLICKHOUSE_URL": CLICKHOUSE_URL,
        "ANALYTICS_REPORT_CACHE_SECONDS": "0",
        "RATE_LIMIT_PER_IP": "10000000/minute",
        "RATE_LIMIT_PER_SUBJECT": "10000000/minute",
        "LOGIN_ATTEMPTS_PER_IP": "10000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    wanted = {"auth", "users", "campaigns", "analytics", "gateway_http"}
    processes = [
        process
        for process in default_processes(
            gateway_port, metrics_base=free_metrics_base(avoid=(gateway_port,))
        )
        if process.name in wanted
    ]
    stack = Stack(processes, env=env, echo=False)
    stack.start()
    now = dt.datetime.now(dt.UTC)
    try:
        stack.wait_ready(timeout=120)
        base = f"http://127.0.0.1:{gateway_port}"
        brand_id, token = sign_up_brand(base)
        creators = [str(uuid.uuid4()) for _ in range(5)]
        ingestion = {}

        floor_campaign = add_campaign(engine, brand_id, creators)
        batches = [
            generate(floor_campaign, creators, BATCH, now, days=30, seed=1000 + n)
            for n in range(INGEST_EVENTS // BATCH)
        ]
        ingestion["floor_clickhouse_insert"] = floor_insert(batches)

        service_campaign = add_campaign(engine, brand_id, creators)
        batches = [
            generate(service_campaign, creators, BATCH, now, days=30, seed=2000 + n)
            for n in range(INGEST_EVENTS // BATCH)
        ]
        config = {**load_config(), "AMQP_URI": env["AMQP_URI"]}
        local = threading.local()

        def rpc_send(batch: list[dict]) -> None:
            if not hasattr(local, "proxy"):
                # the brand's own access token, relayed as the gateway does
                cluster = ClusterRpcProxy(
                    config, context_data={AUTH_TOKEN_CONTEXT_KEY: token}, timeout=60
                )
                local.proxy = cluster.start()
                proxies.append(cluster)
            local.proxy.analytics.ingest({"events": batch})

        proxies: list = []
        ingestion["service_rpc"] = throughput(rpc_send, batches, service_campaign)
        for proxy in proxies:
            proxy.stop()

        http_campaign = add_campaign(engine, brand_id, creators)
        batches = [
            generate(http_campaign, creators, BATCH, now, days=30, seed=3000 + n)
            for n in range(INGEST_EVENTS // BATCH)
        ]
        sessions = threading.local()

        def http_send(batch: list[dict]) -> None:
            if not hasattr(sessions, "session"):
                sessions.session = requests.Session()
            response = sessions.session.post(
                f"{base}/api/v1/analytics/events",
                json={"events": batch},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

        ingestion["http"] = throughput(http_send, batches, http_campaign)
        for name, result in ingestion.items():
            print(name, result, flush=True)

        query_campaigns = [add_campaign(engine, brand_id, []) for _ in range(QUERY_CAMPAIGNS)]
        generated_in = generate_query_events(query_campaigns, creators, now)
        print(f"generated {QUERY_EVENTS} events in {generated_in:.1f}s", flush=True)
        queries = query_latencies(base, token, query_campaigns[0], now)
    finally:
        stack.stop()
        delete_vhost(VHOST)
        engine.dispose()
    floor_rate = ingestion["floor_clickhouse_insert"]["events_per_second"]
    for name in ("service_rpc", "http"):
        ingestion[name]["share_of_floor"] = round(
            ingestion[name]["events_per_second"] / floor_rate, 3
        )
    report = {
        "benchmark": "analytics",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "clickhouse": make_client(CLICKHOUSE_URL, "default").execute("SELECT version()")[0][0],
            "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        },
        "parameters": {
            "ingest_events_per_path": INGEST_EVENTS,
            "batch": BATCH,
            "concurrency": CONCURRENCY,
            "query_events": QUERY_EVENTS,
            "query_campaigns": QUERY_CAMPAIGNS,
            "query_repeats": QUERY_REPEATS,
            "query_events_generated_seconds": round(generated_in, 1),
        },
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            check=False,
        ).stdout.strip(),
        "results": {"ingestion": ingestion, "queries": queries},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    plot(report)
    print(f"wrote {Path(RESULTS).relative_to(PROJECT_ROOT)} and {PLOT.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
