"""Benchmark: the public redirect GET /t/{code} under load, against a floor measured in the same
run (bench/redirect_floor.py: a bare Nameko @http endpoint answering the same 302).

`python -m bench.tracking` (or `make bench`) starts the real stack (scripts.stack) in its own
RabbitMQ vhost, PostgreSQL database, Redis db and ClickHouse database on free ports, makes a
brand, a creator, an accepted application and a tracking link through the API, and runs wrk
with identical settings against:
- `counted`: every request a new visitor (a wrk Lua script varies the User-Agent), so each one
  is a counted click: code from the gateway's Redis cache, visitor SET NX, and the click event
  published to the durable analytics.ingest queue with a publisher confirm before the 302;
- `repeat`: one visitor again and again (the 30-minute window): cache hit, no publish;
- `uncached`: like repeat, on a second gateway with the code cache off (an RPC to analytics per
  request), to show what the cache saves;
- `floor`: the bare 302;
then counted, repeat and floor once more over a single connection (each request's own
latency, no queueing behind the others). It writes bench/results/tracking.json (req/s and
latency percentiles per target, ratios to the floor, the cost of waiting for the confirm =
counted - repeat, clicks that reached ClickHouse) and asserts nothing about time; it fails only
when a run measured errors instead of answers.
"""

import argparse
import contextlib
import datetime as dt
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.gateway import machine
from bench.processes import floor_process
from bench.wrk import WrkResult, WrkSettings, median_result, ratio, run_wrk, wrk_arguments
from dependencies.clickhouse import make_client
from kernel.config import PROJECT_ROOT
from scripts.isolated_stack import NO_EDGE_LIMITS, Scratch, free_port, isolated_stack
from scripts.stack import NAMEKO, Process
from tests.conftest import wait_until
from tests.e2e.marketplace import (
    accepted_application,
    call,
    make_brand,
    make_creator,
    published_campaign,
)

RESULTS = PROJECT_ROOT / "bench" / "results" / "tracking.json"
SCRATCH = Scratch.from_env("BENCH", "bench", redis_db=14)
TARGETS = ("counted", "repeat", "uncached", "floor")
ALONE_TARGETS = ("counted", "repeat", "floor")
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
DESTINATION = "https://shop.example/trail-boots?utm_source=bench"
# Each request a new visitor: the User-Agent carries the wrk run (its start time), the thread
# and a counter, so no two requests of any run share one.
NEW_VISITOR_SCRIPT = """
local run = tostring(os.time())
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local agent = "%s run/" .. run .. " t/" .. tostring(tid) .. " n/" .. n
  return wrk.format("GET", nil, {["User-Agent"] = agent})
end
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(parser, duration=15, connections=32, rounds=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Api:
    """What the e2e marketplace helpers need of a stack: its base URL."""

    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


def make_link(base_url: str) -> dict[str, Any]:
    """A brand, a creator, a published campaign, an accepted application and its link, made
    through the API with the e2e tests' helpers."""
    api = Api(base_url)
    brand, creator = make_brand(api), make_creator(api)
    campaign = published_campaign(api, brand)
    application = accepted_application(api, brand, creator, campaign["id"])
    made = call(
        api,
        "POST",
        f"/api/v1/applications/{application['id']}/tracking-links",
        creator,
        {"destination_url": DESTINATION, "platform": "instagram"},
    )
    if made.status_code != 201:
        raise RuntimeError(f"creating the link answered {made.status_code}: {made.text}")
    return made.json()


def measure(
    urls: dict[str, str], scripts: dict[str, str | None], args: argparse.Namespace
) -> tuple[dict[str, WrkResult], dict[str, list[WrkResult]], dict[str, WrkResult]]:
    settings = WrkSettings(args.threads, args.connections, args.duration)
    warmup = WrkSettings(args.threads, args.connections, args.warmup)
    headers = {"User-Agent": BROWSER}
    warmups: dict[str, WrkResult] = {}
    for target in TARGETS:
        print(f"warm-up {target} ({args.warmup}s)", flush=True)
        warmups[target] = run_wrk(urls[target], warmup, headers, script=scripts[target])
    runs: dict[str, list[WrkResult]] = {target: [] for target in TARGETS}
    for round_number in range(1, args.rounds + 1):
        for target in TARGETS:
            print(f"round {round_number}: {target} ({args.duration}s)", flush=True)
            runs[target].append(run_wrk(urls[target], settings, headers, script=scripts[target]))
    return {target: median_result(runs[target]) for target in TARGETS}, runs, warmups


def measure_alone(
    urls: dict[str, str], scripts: dict[str, str | None], args: argparse.Namespace
) -> dict[str, WrkResult]:
    """One connection, one thread: each request's own latency, without queueing behind others
    (what waiting for the publisher confirm adds to a single visitor's redirect)."""
    settings = WrkSettings(1, 1, args.duration)
    headers = {"User-Agent": BROWSER}
    results = {}
    for target in ALONE_TARGETS:
        print(f"one connection: {target} ({args.duration}s)", flush=True)
        results[target] = run_wrk(urls[target], settings, headers, script=scripts[target])
    return results


def stored_clicks(campaign_id: str) -> int:
    client = make_client(SCRATCH.clickhouse_url)
    try:
        return client.execute(
            "SELECT count() FROM events WHERE campaign_id = %(c)s AND event_type = 'click'",
            {"c": campaign_id},
        )[0][0]
    finally:
        client.disconnect()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = dt.datetime.now(dt.UTC)
    machine_info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    script = workdir / "new_visitor.lua"
    script.write_text(NEW_VISITOR_SCRIPT % BROWSER)
    gateway_port, uncached_port, floor_port = free_port(), free_port(), free_port()
    uncached = Process(
        "gateway_uncached",
        [*NAMEKO, "gateway_http.service:GatewayService"],
        env={"GATEWAY_ADDRESS": f"127.0.0.1:{uncached_port}", "TRACKING_CACHE_SECONDS": "0"},
        http_health=f"http://127.0.0.1:{uncached_port}/healthz",
    )
    env = {
        **NO_EDGE_LIMITS,
        "TRACKING_PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "LOG_LEVEL": "WARNING",
    }
    harness = isolated_stack(
        SCRATCH,
        env,
        choose=lambda processes: [*processes, uncached],
        gateway_port=gateway_port,
        other_ports=(uncached_port, floor_port),
    )
    with harness as running, contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        link = make_link(running.base_url)
        first = requests.get(
            link["url"], headers={"User-Agent": BROWSER}, allow_redirects=False, timeout=10
        )
        if first.status_code != 302:
            raise RuntimeError(f"the link answered {first.status_code}: {first.text}")
        floor = floor_process("floor", "bench.redirect_floor:RedirectFloor", floor_port)
        cleanup.enter_context(
            running.beside([floor], {"FLOOR_LOCATION": first.headers["Location"]})
        )
        path = f"/t/{link['code']}"
        urls = {
            "counted": f"http://127.0.0.1:{gateway_port}{path}",
            "repeat": f"http://127.0.0.1:{gateway_port}{path}",
            "uncached": f"http://127.0.0.1:{uncached_port}{path}",
            "floor": f"http://127.0.0.1:{floor_port}{path}",
        }
        scripts = {target: None for target in TARGETS} | {"counted": str(script)}
        results, runs, warmups = measure(urls, scripts, args)
        alone = measure_alone(urls, scripts, args)
        # Every counted request (warm-up too) was a new visitor: one click event each, plus the
        # first request above. wrk does not count requests cut off at the end of a run, so up to
        # `connections` per run may be stored beyond what it reports.
        expected = (
            1
            + warmups["counted"].requests
            + sum(r.requests for r in runs["counted"])
            + alone["counted"].requests
        )
        with contextlib.suppress(AssertionError):
            wait_until(lambda: stored_clicks(link["campaign_id"]) >= expected, timeout=120)
        clicks_in_clickhouse = stored_clicks(link["campaign_id"])

    settings = WrkSettings(args.threads, args.connections, args.duration)
    floor_result = results["floor"]
    report = {
        "benchmark": "GET /t/{code} through the gateway (302) vs a bare Nameko @http 302",
        "timestamp": started_at.isoformat(timespec="seconds"),
        "wrk": {**settings.__dict__, "warmup_s": args.warmup, "rounds": args.rounds},
        "machine": machine_info,
        "targets": {target: results[target].as_dict() for target in TARGETS},
        "ratio_to_floor": {
            target: {
                "throughput": ratio(
                    results[target].requests_per_second, floor_result.requests_per_second
                ),
                "p50": ratio(results[target].latency_ms["p50"], floor_result.latency_ms["p50"]),
                "p99": ratio(results[target].latency_ms["p99"], floor_result.latency_ms["p99"]),
            }
            for target in TARGETS
            if target != "floor"
        },
        "one_connection": {target: alone[target].as_dict() for target in ALONE_TARGETS},
        "publish_with_confirm_ms": {
            "under_load": {
                p: round(results["counted"].latency_ms[p] - results["repeat"].latency_ms[p], 3)
                for p in ("p50", "p99")
            },
            "one_connection": {
                p: round(alone["counted"].latency_ms[p] - alone["repeat"].latency_ms[p], 3)
                for p in ("p50", "p99")
            },
        },
        "clicks": {
            "counted_requests": expected,
            "in_clickhouse": clicks_in_clickhouse,
        },
        "all_runs": {target: [run.as_dict() for run in runs[target]] for target in TARGETS},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    for target in TARGETS:
        result = results[target]
        print(
            f"{target:>8}: {result.requests_per_second:9.1f} req/s  "
            f"p50 {result.latency_ms['p50']:8.2f} ms  p99 {result.latency_ms['p99']:8.2f} ms  "
            f"failed {result.failed}"
        )
    for target in ALONE_TARGETS:
        result = alone[target]
        print(
            f"{target:>8} (1 connection): p50 {result.latency_ms['p50']:8.2f} ms  "
            f"p99 {result.latency_ms['p99']:8.2f} ms"
        )
    print(f"   clicks: {report['clicks']}  -> {args.output}")
    every = [*results.items(), *((f"{t} (1 connection)", r) for t, r in alone.items())]
    failed = {target: result.failed for target, result in every if result.failed}
    if failed or any(result.requests == 0 for _, result in every):
        print(f"runs measured errors, not answers: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
