"""Benchmark: authenticated GET /api/v1/me through the gateway against a floor measured in the
same run (bench/floor_service.py: a bare Nameko @http endpoint returning the same JSON, no RPC).

`python -m bench.gateway` (or `make bench`) starts the real stack (scripts.stack) in its own
RabbitMQ vhost, database and Redis db on free ports, registers and signs in a user, warms both
targets up, then runs wrk with identical settings against each and writes
bench/results/gateway.json: req/s and latency percentiles per target, the gateway/floor ratios,
the wrk settings and the machine. It asserts nothing about time; it fails only when a run
measured errors instead of answers. Every process it started is stopped, also on error.
"""

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.wrk import WrkResult, WrkSettings, run_wrk, wrk_version
from scripts.isolated_stack import (
    delete_vhost,
    free_metrics_base,
    free_port,
    fresh_vhost,
    migrate_database,
)
from scripts.stack import NAMEKO, Process, Stack, default_processes
from services.common.config import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results" / "gateway.json"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/influencer_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
VHOST = os.environ.get("BENCH_VHOST", "influencer_bench")
UNLIMITED = "100000000/minute"  # the bench measures the gateway, not its rate limiter refusing
TARGETS = ("gateway", "floor")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per target")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measured runs per target, alternating; median kept"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def sign_in(base_url: str) -> str:
    """Register a fresh brand account and return its access token."""
    credentials = {"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "password": "x" * 24}
    register = requests.post(
        f"{base_url}/api/v1/auth/register",
        json={**credentials, "role": "brand", "display_name": "Bench"},
        timeout=10,
    )
    if register.status_code != 201:
        raise RuntimeError(f"register answered {register.status_code}: {register.text}")
    login = requests.post(f"{base_url}/api/v1/auth/login", json=credentials, timeout=10)
    if login.status_code != 200:
        raise RuntimeError(f"login answered {login.status_code}: {login.text}")
    return login.json()["access_token"]


def machine() -> dict[str, Any]:
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version(),
    }


def median_result(results: list[WrkResult]) -> WrkResult:
    """The run with the median throughput (a real run, not a blend of several)."""
    ordered = sorted(results, key=lambda result: result.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def summary(results: dict[str, WrkResult]) -> dict[str, Any]:
    gateway, floor = results["gateway"], results["floor"]
    return {
        "throughput_gateway_over_floor": ratio(
            gateway.requests_per_second, floor.requests_per_second
        ),
        "p50_gateway_over_floor": ratio(gateway.latency_ms["p50"], floor.latency_ms["p50"]),
        "p99_gateway_over_floor": ratio(gateway.latency_ms["p99"], floor.latency_ms["p99"]),
    }


def measure(
    urls: dict[str, str], headers: dict[str, dict[str, str]], args: argparse.Namespace
) -> tuple[dict[str, WrkResult], dict[str, list[WrkResult]]]:
    settings = WrkSettings(args.threads, args.connections, args.duration)
    warmup = WrkSettings(args.threads, args.connections, args.warmup)
    for target in TARGETS:
        print(f"warm-up {target} ({args.warmup}s)", flush=True)
        run_wrk(urls[target], warmup, headers[target])
    runs: dict[str, list[WrkResult]] = {target: [] for target in TARGETS}
    for round_number in range(1, args.rounds + 1):
        for target in TARGETS:
            print(f"round {round_number}: {target} ({args.duration}s)", flush=True)
            runs[target].append(run_wrk(urls[target], settings, headers[target]))
    return {target: median_result(runs[target]) for target in TARGETS}, runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gateway_port, floor_port = free_port(), free_port()
    metrics_base = free_metrics_base(avoid=(gateway_port, floor_port))
    env = {
        "AMQP_URI": fresh_vhost(VHOST),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_PER_IP": UNLIMITED,
        "RATE_LIMIT_PER_SUBJECT": UNLIMITED,
        "LOG_LEVEL": "WARNING",
    }
    migrate_database(DATABASE_URL)
    started_at = dt.datetime.now(dt.UTC)
    machine_info = machine()
    stack = Stack(default_processes(gateway_port, metrics_base), env=env, echo=False)
    floor: Stack | None = None
    body_file = Path(tempfile.mkdtemp(prefix="bench-gateway-")) / "me.json"
    try:
        stack.start()
        stack.wait_ready(timeout=90)
        gateway_url = f"http://127.0.0.1:{gateway_port}/api/v1/me"
        token = sign_in(f"http://127.0.0.1:{gateway_port}")
        authorization = {"Authorization": f"Bearer {token}"}
        me = requests.get(gateway_url, headers=authorization, timeout=10)
        me.raise_for_status()
        body_file.write_bytes(me.content)

        floor = Stack(
            [
                Process(
                    "floor",
                    [*NAMEKO, "bench.floor_service:FloorService"],
                    env={"GATEWAY_ADDRESS": f"127.0.0.1:{floor_port}"},
                    http_health=f"http://127.0.0.1:{floor_port}/healthz",
                )
            ],
            env={**env, "FLOOR_BODY_FILE": str(body_file)},
            echo=False,
        )
        floor.start()
        floor.wait_ready(timeout=30)
        floor_url = f"http://127.0.0.1:{floor_port}/api/v1/me"
        if requests.get(floor_url, timeout=10).content != me.content:
            raise RuntimeError("the floor does not answer the same body as the gateway")

        urls = {"gateway": gateway_url, "floor": floor_url}
        headers = {"gateway": authorization, "floor": authorization}
        results, runs = measure(urls, headers, args)
    except Exception:
        for name, lines in {**stack.output, **(floor.output if floor else {})}.items():
            sys.stderr.write(f"--- last output of {name} ---\n{''.join(lines[-20:])}")
        raise
    finally:
        if floor is not None:
            floor.stop()
        stack.stop()
        delete_vhost(VHOST)
        shutil.rmtree(body_file.parent, ignore_errors=True)

    settings = WrkSettings(args.threads, args.connections, args.duration)
    report = {
        "benchmark": "gateway GET /api/v1/me (authenticated, RPC to auth) vs bare Nameko @http",
        "timestamp": started_at.isoformat(timespec="seconds"),
        "wrk": {**settings.__dict__, "warmup_s": args.warmup, "rounds": args.rounds},
        "machine": machine_info,
        "targets": {
            "gateway": {"url_path": "/api/v1/me", **results["gateway"].as_dict()},
            "floor": {"url_path": "/api/v1/me", **results["floor"].as_dict()},
        },
        "ratio": summary(results),
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
    print(f"   ratio: {report['ratio']}  -> {args.output}")
    failed = {target: results[target].failed for target in TARGETS if results[target].failed}
    if failed or any(results[target].requests == 0 for target in TARGETS):
        print(f"runs measured errors, not answers: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
