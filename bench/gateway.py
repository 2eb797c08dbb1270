"""Benchmark: authenticated GET /api/v1/me through the gateway against two floors measured in
the same run (bench/floor_service.py): a Nameko @http endpoint making one RPC to a service that
returns the same account as a dict (the one-RPC floor), and a bare @http endpoint returning the
same JSON (no RPC).

`python -m bench.gateway` (or `make bench`) starts the real stack (scripts.stack) in its own
RabbitMQ vhost, database and Redis db on free ports, logging at INFO as in production, registers
and signs in a user, warms every target up, then runs wrk with identical settings (connections,
warm-up, duration) against each, `--rounds` times alternating targets, and writes
bench/results/gateway.json (+ gateway.png): per target the median and range across rounds of
req/s, p50 and p99; the ratios round by round; the wrk settings and the machine. It asserts
nothing about time; it fails only when a run measured errors instead of answers. Every process it
started is stopped, also on error.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.plot import plot_targets
from bench.processes import FileLoggedStack, floor_process
from bench.wrk import (
    Target,
    WrkResult,
    WrkSettings,
    measure_targets,
    round_ratios,
    summarize,
    wrk_arguments,
    wrk_version,
)
from kernel.config import PROJECT_ROOT
from scripts.isolated_stack import NO_EDGE_LIMITS, Scratch, free_port, isolated_stack
from scripts.stack import NAMEKO, Process

RESULTS = PROJECT_ROOT / "bench" / "results" / "gateway.json"
SCRATCH = Scratch.from_env("BENCH", "bench", redis_db=14)
NOTE = (
    "Ratios are taken round by round between runs made minutes apart on the same machine, then "
    "their median and range; absolute req/s and ms depend on whatever else loads the machine."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(parser, duration=15, connections=32, rounds=3)
    parser.add_argument(
        "--log-level", default="INFO", help="LOG_LEVEL of every process (production: INFO)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def post(url: str, body: dict[str, Any], expected: int, attempts: int = 5) -> requests.Response:
    """POST, retried on a 5xx: on a machine shared with test suites, PostgreSQL sometimes refuses
    connections for a moment, which says nothing about the code measured."""
    for attempt in range(attempts):
        response = requests.post(url, json=body, timeout=10)
        if response.status_code < 500 or attempt == attempts - 1:
            break
        time.sleep(1 + attempt)
    if response.status_code != expected:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text}")
    return response


def sign_in(base_url: str) -> str:
    """Register a fresh brand account and return its access token."""
    credentials = {"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "password": "x" * 24}
    post(
        f"{base_url}/api/v1/auth/register",
        {**credentials, "role": "brand", "display_name": "Bench"},
        201,
    )
    return post(f"{base_url}/api/v1/auth/login", credentials, 200).json()["access_token"]


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


def report_head(
    benchmark: str,
    started_at: dt.datetime,
    machine_info: dict[str, Any],
    args: argparse.Namespace,
    settings: WrkSettings,
) -> dict[str, Any]:
    """What every wrk benchmark's JSON starts with: what ran, when, where and how."""
    return {
        "benchmark": benchmark,
        "note": NOTE,
        "timestamp": started_at.isoformat(timespec="seconds"),
        "git": git_revision(),
        "log_level": args.log_level,
        "wrk": {**settings.__dict__, "warmup_s": args.warmup, "rounds": args.rounds},
        "machine": machine_info,
    }


def target_results(
    targets: dict[str, Target], runs: dict[str, list[WrkResult]], summaries: dict[str, Any]
) -> dict[str, Any]:
    """What every wrk benchmark's JSON ends with: each target's paths and summary, every run."""
    return {
        "targets": {
            name: {"paths": list(targets[name].paths), **summaries[name]} for name in targets
        },
        "all_runs": {name: [run.as_dict() for run in runs[name]] for name in targets},
    }


def write_report(
    output: Path, report: dict[str, Any], summaries: dict[str, Any], plot_title: str
) -> None:
    """The JSON, and its plot beside it (.png)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    plot_targets(output.with_suffix(".png"), plot_title, summaries)


def exit_status(summaries: dict[str, Any]) -> int:
    """1 when a target's runs measured errors instead of answers."""
    failed = {name: summary["failed"] for name, summary in summaries.items() if summary["failed"]}
    if failed:
        print(f"runs measured errors, not answers: {failed}", file=sys.stderr)
        return 1
    return 0


def git_revision() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = {**NO_EDGE_LIMITS, "LOG_LEVEL": args.log_level}
    started_at = dt.datetime.now(dt.UTC)
    machine_info = machine()
    body_file = Path(tempfile.mkdtemp(prefix="bench-gateway-")) / "me.json"
    floor_port = free_port()
    harness = isolated_stack(SCRATCH, env, other_ports=(floor_port,), stack_class=FileLoggedStack)
    with harness as running, contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, body_file.parent, ignore_errors=True)
        gateway = running.base_url
        token = sign_in(gateway)
        authorization = {"Authorization": f"Bearer {token}"}
        me = requests.get(f"{gateway}/api/v1/me", headers=authorization, timeout=10)
        me.raise_for_status()
        body_file.write_bytes(me.content)
        floors = [
            Process(
                "floor_rpc",
                [*NAMEKO, "bench.floor_service:FloorRpcService"],
                rpc_service="bench_floor_rpc",
            ),
            floor_process("floor", "bench.floor_service:FloorService", floor_port),
        ]
        cleanup.enter_context(running.beside(floors, {"FLOOR_BODY_FILE": str(body_file)}))
        floor_base = f"http://127.0.0.1:{floor_port}"
        targets = {
            "gateway": Target(gateway, ("/api/v1/me",), authorization),
            "floor_one_rpc": Target(floor_base, ("/api/v1/me-rpc",), authorization),
            "floor_bare": Target(floor_base, ("/api/v1/me",), authorization),
        }
        for name, target in targets.items():
            answer = requests.get(target.base_url + target.paths[0], headers=authorization)
            if answer.json() != me.json():
                raise RuntimeError(f"{name} does not answer the same account as the gateway")

        settings = WrkSettings(args.threads, args.connections, args.duration)
        runs = measure_targets(targets, settings, args.warmup, args.rounds)

    summaries = {name: summarize(results) for name, results in runs.items()}
    report = {
        **report_head(
            "gateway GET /api/v1/me (authenticated, RPC to auth) vs Nameko floors",
            started_at,
            machine_info,
            args,
            settings,
        ),
        "ratio": {
            "gateway_over_floor_one_rpc": round_ratios(runs["gateway"], runs["floor_one_rpc"]),
            "gateway_over_floor_bare": round_ratios(runs["gateway"], runs["floor_bare"]),
            "floor_one_rpc_over_floor_bare": round_ratios(
                runs["floor_one_rpc"], runs["floor_bare"]
            ),
        },
        **target_results(targets, runs, summaries),
    }
    write_report(args.output, report, summaries, "GET /api/v1/me vs Nameko floors")
    for name, summary in summaries.items():
        print(
            f"{name:>14}: {summary['requests_per_second']['median']:9.1f} req/s  "
            f"p50 {summary['p50_ms']['median']:8.2f} ms  p99 {summary['p99_ms']['median']:8.2f} ms"
        )
    print(f"   ratio (median of rounds): {report['ratio']}  -> {args.output}")
    return exit_status(summaries)


if __name__ == "__main__":
    sys.exit(main())
