"""Run wrk and read its report: requests/s, latency percentiles, errors. Shared by bench modules."""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
TIME = r"([\d.]+)(us|ms|s|m|h)"


@dataclass(frozen=True)
class WrkSettings:
    threads: int = 2
    connections: int = 32
    duration_s: int = 15
    timeout_s: int = 5

    def args(self) -> list[str]:
        return [
            f"--threads={self.threads}",
            f"--connections={self.connections}",
            f"--duration={self.duration_s}s",
            f"--timeout={self.timeout_s}s",
            "--latency",
        ]


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    requests_per_second: float
    latency_ms: dict[str, float]  # "p50", "p75", "p90", "p99", "avg", "max"
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    def line(self) -> str:
        return (
            f"{self.requests_per_second:9.1f} req/s  p50 {self.latency_ms['p50']:8.2f} ms  "
            f"p99 {self.latency_ms['p99']:8.2f} ms  failed {self.failed}"
        )


def to_ms(value: str, unit: str) -> float:
    return round(float(value) * TIME_UNITS_MS[unit], 3)


def parse_report(report: str) -> WrkResult:
    """Parse the text wrk prints with --latency."""
    totals = re.search(r"^\s*(\d+) requests in " + TIME, report, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.M)
    if not totals or not rate:
        raise ValueError(f"not a wrk report:\n{report}")
    latency: dict[str, float] = {}
    for percent, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+" + TIME, report, re.M):
        latency[f"p{percent}"] = to_ms(value, unit)
    thread_stats = re.search(r"^\s+Latency\s+" + TIME + r"\s+" + TIME + r"\s+" + TIME, report, re.M)
    if thread_stats:
        latency["avg"] = to_ms(thread_stats.group(1), thread_stats.group(2))
        latency["max"] = to_ms(thread_stats.group(5), thread_stats.group(6))
    if "p50" not in latency or "p99" not in latency:
        raise ValueError(f"wrk report without latency percentiles (needs --latency):\n{report}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()), strict=True))
        if socket
        else {}
    )
    return WrkResult(
        requests=int(totals.group(1)),
        duration_s=to_ms(totals.group(2), totals.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        latency_ms=latency,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0] if done.stdout + done.stderr else ""


def run_wrk(
    url: str,
    settings: WrkSettings,
    headers: dict[str, str] | None = None,
    script: str | None = None,
) -> WrkResult:
    """`script`: a wrk Lua script file (e.g. one that varies a header per request)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run `bash scripts/provision.sh`")
    command = ["wrk", *settings.args()]
    if script is not None:
        command += ["--script", script]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    done = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=settings.duration_s + settings.timeout_s + 30,
    )
    return parse_report(done.stdout)


@dataclass(frozen=True)
class Target:
    """One thing wrk drives: a base URL, the paths it cycles through, the headers it sends."""

    base_url: str
    paths: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)


CYCLE_SCRIPT = """
local paths = {%s}
local next_index = 0
request = function()
  next_index = next_index %% #paths + 1
  return wrk.format(nil, paths[next_index])
end
"""


def run_target(target: Target, settings: WrkSettings) -> WrkResult:
    """One wrk run; several paths are requested in turn (a Lua script) on every connection."""
    if len(target.paths) == 1:
        return run_wrk(target.base_url + target.paths[0], settings, target.headers)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-paths-") as script:
        script.write(CYCLE_SCRIPT % ", ".join(json.dumps(path) for path in target.paths))
        script.flush()
        return run_wrk(
            target.base_url + target.paths[0], settings, target.headers, script=script.name
        )


def measure_targets(
    targets: dict[str, Target], settings: WrkSettings, warmup_s: int, rounds: int
) -> dict[str, list[WrkResult]]:
    """Warm every target up with the same settings, then `rounds` measured runs per target,
    alternating targets within each round so slow drifts in machine load hit all of them."""
    warmup = WrkSettings(settings.threads, settings.connections, warmup_s, settings.timeout_s)
    for name, target in targets.items():
        print(f"warm-up {name} ({warmup_s}s)", flush=True)
        run_target(target, warmup)
    runs: dict[str, list[WrkResult]] = {name: [] for name in targets}
    for round_number in range(1, rounds + 1):
        for name, target in targets.items():
            print(f"round {round_number}/{rounds}: {name} ({settings.duration_s}s)", flush=True)
            runs[name].append(run_target(target, settings))
            print(f"  {runs[name][-1].line()}", flush=True)
    return runs


def spread(values: list[float]) -> dict[str, float]:
    """Median and the range across rounds."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def summarize(runs: list[WrkResult]) -> dict[str, Any]:
    return {
        "rounds": len(runs),
        "requests_per_second": spread([run.requests_per_second for run in runs]),
        "p50_ms": spread([run.latency_ms["p50"] for run in runs]),
        "p99_ms": spread([run.latency_ms["p99"] for run in runs]),
        "p99_over_p50": spread([run.latency_ms["p99"] / run.latency_ms["p50"] for run in runs]),
        "failed": sum(run.failed for run in runs),
    }


def round_ratios(numerator: list[WrkResult], denominator: list[WrkResult]) -> dict[str, Any]:
    """Throughput and latency ratios taken round by round (both measured minutes apart at most),
    then their median and range."""
    pairs = list(zip(numerator, denominator, strict=True))
    return {
        "throughput": spread([a.requests_per_second / b.requests_per_second for a, b in pairs]),
        "p50": spread([a.latency_ms["p50"] / b.latency_ms["p50"] for a, b in pairs]),
        "p99": spread([a.latency_ms["p99"] / b.latency_ms["p99"] for a, b in pairs]),
    }


def median_result(results: list[WrkResult]) -> WrkResult:
    """The run with the median throughput (a real run, not a blend of several)."""
    ordered = sorted(results, key=lambda result: result.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def wrk_arguments(
    parser: argparse.ArgumentParser, duration: int, connections: int, rounds: int
) -> argparse.ArgumentParser:
    """The wrk options every benchmark takes (same names, so `make bench` drives them alike)."""
    parser.add_argument("--duration", type=int, default=duration, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per target")
    parser.add_argument(
        "--rounds", type=int, default=rounds, help="measured runs per target, alternating targets"
    )
    return parser
