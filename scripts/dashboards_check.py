"""`make dashboards-check`: every Grafana panel query must parse and return data from a real
Prometheus scraping a real stack under a short generated load.

It starts the stack (scripts.stack, isolated: own vhost, database, Redis db, free ports), a
Prometheus (Debian's package) scraping every process each second with the alerting and recording
rules of deploy/prometheus/rules loaded, drives a bounded load through the gateway (sign-ups,
sign-ins, /me, refused requests, a rate-limit breach, a campaign published, applied to and
accepted, analytics events for it, cached campaign lists and reports read again, a poison message
on analytics' queue, a chat, a deliverable through its review), then runs each panel's query.

A query that does not parse fails. A query that returns no data fails, unless what exports its
metrics is not running in this checkout (e.g. Kong, or a service another branch is building) or
is running but not exercised by the load yet: those are listed as SKIP with the reason. To cover a
new service, add a step to LOAD_STEPS and its process to LOADED_EXPORTERS.
"""

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from scripts.isolated_stack import Scratch, free_port, isolated_stack
from scripts.ops_check import GRAFANA, PROMETHEUS, Report, dashboard_queries

SCRATCH = Scratch.from_env("DASHBOARDS", "dashboards", redis_db=13)
RABBITMQ_METRICS = "127.0.0.1:15692"
# Low enough that breach_rate_limit provokes 429s for the rate-limit panels, high enough that the
# marketplace brand (campaign, events retried until analytics knows the accept, a conversation and
# deliverables every round) stays within it.
PER_SUBJECT_LIMIT = 60
QUERY_VARIABLES = {"$__rate_interval": "30s", "$__interval": "1s", "$__range": "1h"}

# Which process exports the metrics a query uses (first match wins).
EXPORTERS: list[tuple[str, str]] = [
    (r"\bkong_", "kong"),
    (r"\b(token_cache_|gateway_campaign_list_cache)", "gateway_http"),
    (r"\bamqp_messages_dead_lettered", "analytics"),  # the load's poison message
    (r"\bkube_", "kubernetes"),  # kube-state-metrics: Kubernetes only
    (r"\bws_", "ws"),
    (r"\banalytics_", "analytics"),
    (r"\bcampaigns?_", "campaigns"),
    (r"\bapplications?_", "applications"),
    (r"\bmessages_", "messaging"),
    (r"\bsystem_messages_", "messaging"),
    (r"\bdeliverable_", "applications"),
    (r"\bnameko_event_handler_lag", "event consumers"),
    (r"\brabbitmq_", "rabbitmq"),
]
# Exporters whose metrics the generated load is expected to produce.
LOADED_EXPORTERS = {
    "gateway_http",
    "auth",
    "users",
    "campaigns",
    "applications",
    "analytics",
    "messaging",
    "ws",
    "rabbitmq",
}


def exporter_of(expr: str) -> str:
    for pattern, exporter in EXPORTERS:
        if re.search(pattern, expr):
            return exporter
    return "gateway_http" if re.search(r"\b(http_|ratelimit_|gateway:)", expr) else "auth"


# --- load -----------------------------------------------------------------------------------


def post(base: str, path: str, body: Any = None, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{base}/api/v1{path}", json=body, headers=headers, timeout=15)


def put(base: str, path: str, body: Any, token: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.put(f"{base}/api/v1{path}", json=body, headers=headers, timeout=15)


@dataclass
class Account:
    credentials: dict[str, str]
    id: str
    token: str


def signed_up(base: str, role: str, profile: dict[str, Any] | None = None) -> Account:
    """A new account of `role`, signed in, with `profile` if given."""
    credentials = {"email": f"dash-{uuid.uuid4().hex[:10]}@example.com", "password": "x" * 20}
    user_id = post(base, "/auth/register", {**credentials, "role": role}).json()["id"]
    token = post(base, "/auth/login", credentials).json()["access_token"]
    if profile is not None:
        put(base, "/me/profile", profile, token).raise_for_status()
    return Account(credentials, user_id, token)


def sign_up_and_use(base: str) -> None:
    for role in ("brand", "creator"):
        account = signed_up(base, role)
        post(base, "/auth/register", {**account.credentials, "role": role})  # 409: expected_error
        requests.get(
            f"{base}/api/v1/me", headers={"Authorization": f"Bearer {account.token}"}, timeout=15
        )
        post(base, "/auth/login", {**account.credentials, "password": "wrong password!"})  # 401
        post(base, "/auth/register", {"email": "not an email"})  # 422
        requests.get(f"{base}/api/v1/me", timeout=15)  # 401 without a token


def breach_rate_limit(base: str) -> None:
    token = signed_up(base, "brand").token
    for _ in range(PER_SUBJECT_LIMIT + 5):
        requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=15)


@dataclass
class Marketplace:
    brand: Account
    creator: Account
    campaign_id: str
    application_id: str


def campaign_with_accepted_creator(base: str) -> Marketplace:
    """A brand publishes a campaign, a creator applies, the brand accepts."""
    brand = signed_up(base, "brand", {"company_name": "Dash Co", "country": "DE"})
    creator = signed_up(
        base,
        "creator",
        {
            "display_name": "Dash Creator",
            "portfolio_url": "https://dash-creator.example.com",
            "country": "DE",
            "platforms": [
                {
                    "platform": "instagram",
                    "handle": "@dash",
                    "followers": 50_000,
                    "engagement_rate": 0.04,
                },
            ],
        },
    )
    now = dt.datetime.now(dt.UTC)
    campaign = post(
        base,
        "/campaigns",
        {
            "title": "Dashboards check",
            "brief": "Generated load",
            "platforms": ["instagram"],
            "deliverables": [{"type": "reel", "platform": "instagram", "quantity": 1}],
            "budget": {"amount": 100_000, "currency": "EUR"},
            "compensation": "fixed",
            "application_deadline": (now + dt.timedelta(days=5)).isoformat(),
            "starts_at": (now + dt.timedelta(days=6)).isoformat(),
            "ends_at": (now + dt.timedelta(days=30)).isoformat(),
            "max_creators": 2,
        },
        brand.token,
    )
    campaign.raise_for_status()
    campaign_id = campaign.json()["id"]
    post(base, f"/campaigns/{campaign_id}/publish", token=brand.token).raise_for_status()
    application = post(
        base,
        f"/campaigns/{campaign_id}/applications",
        {"pitch": "Generated load", "proposed_rate": {"amount": 10_000, "currency": "EUR"}},
        creator.token,
    )
    application.raise_for_status()
    application_id = application.json()["id"]
    post(base, f"/applications/{application_id}/accept", token=brand.token).raise_for_status()
    return Marketplace(brand, creator, campaign_id, application_id)


# Made by the first round's marketplace step; later steps (analytics, chat) reuse it.
MARKETPLACE: list[Marketplace] = []
CHAT_URL = ""  # the stack's ws endpoint, set by main()
AMQP_URI = ""  # the stack's vhost, set by main()


def run_marketplace(base: str) -> None:
    marketplace = campaign_with_accepted_creator(base)
    if not MARKETPLACE:
        MARKETPLACE.append(marketplace)
        return
    # later rounds also pause theirs
    pause = post(base, f"/campaigns/{marketplace.campaign_id}/pause", token=marketplace.brand.token)
    pause.raise_for_status()


def ingest_analytics_events(base: str) -> None:
    marketplace = MARKETPLACE[0]
    brand, campaign_id = marketplace.brand.token, marketplace.campaign_id
    now = dt.datetime.now(dt.UTC)
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "campaign_id": campaign_id,
            "creator_id": marketplace.creator.id,
            "event_type": ("impression", "click", "like", "conversion")[n % 4],
            # within the minutes since the accept: events may not predate it
            "ts": (now - dt.timedelta(seconds=n)).isoformat(),
            "platform": "instagram",
            "value": 500 if n % 4 == 3 else 0,
        }
        for n in range(200)
    ]
    # The first batch may come before analytics has heard of the accept: retry for a while.
    wait_for(
        lambda: post(base, "/analytics/events", {"events": events}, brand).status_code == 202,
        30,
        "analytics events accepted",
    )
    requests.get(
        f"{base}/api/v1/campaigns/{campaign_id}/analytics/summary",
        headers={"Authorization": f"Bearer {brand}"},
        timeout=15,
    )


def reread(base: str) -> None:
    """The cached answers: a fresh creator lists public campaigns twice, and (first round only,
    the per-subject limit is low) the brand reads the summary the analytics step just read
    (hit ratios of the campaign list and report caches)."""
    creator = {"Authorization": f"Bearer {signed_up(base, 'creator').token}"}
    for _ in range(2):
        requests.get(f"{base}/api/v1/campaigns", headers=creator, timeout=15)
    if REREAD_DONE:
        return
    REREAD_DONE.append(True)
    marketplace = MARKETPLACE[0]
    requests.get(
        f"{base}/api/v1/campaigns/{marketplace.campaign_id}/analytics/summary",
        headers={"Authorization": f"Bearer {marketplace.brand.token}"},
        timeout=15,
    )


REREAD_DONE: list[bool] = []


def poison_message(base: str) -> None:
    """A message analytics cannot read, put straight on its queue: it is dead-lettered
    (amqp_messages_dead_lettered_total, RabbitMQ's dead-letter counters)."""
    from kombu import Connection

    with Connection(AMQP_URI) as connection:
        connection.Producer().publish(
            {"not": "events"}, routing_key="analytics.ingest", serializer="json"
        )


def chat(base: str) -> None:
    """The marketplace's brand and creator chat over ws: messages_sent_total and the ws_* panels
    (connections, frames in/out, an error frame)."""
    import websocket

    marketplace = MARKETPLACE[0]
    brand, creator = marketplace.brand.token, marketplace.creator.token
    conversation = post(
        base, "/conversations", {"application_id": marketplace.application_id}, brand
    )
    conversation.raise_for_status()
    conversation_id = conversation.json()["id"]
    sockets = {
        token: websocket.create_connection(
            CHAT_URL, header=[f"Authorization: Bearer {token}"], suppress_origin=True, timeout=15
        )
        for token in (brand, creator)
    }
    try:
        for number in range(5):
            frame = {"type": "send", "conversation_id": conversation_id, "body": f"hi {number}"}
            sockets[brand].send(json.dumps({**frame, "client_msg_id": str(uuid.uuid4())}))
            sockets[creator].send(
                json.dumps({"type": "typing", "conversation_id": conversation_id})
            )
        sockets[creator].send(
            json.dumps({"type": "read", "conversation_id": conversation_id, "seq": 1})
        )
        sockets[creator].send("not json")  # an error frame for ws_errors_total
        for socket_ in sockets.values():
            socket_.send(json.dumps({"type": "ping"}))
            while json.loads(socket_.recv())["type"] != "pong":
                pass
    finally:
        for socket_ in sockets.values():
            socket_.close()


def deliver(base: str) -> None:
    """A fresh accepted creator submits its reel, the brand asks for changes, the creator
    resubmits, the brand approves: deliverable_status_changes_total and, from the notices
    messaging posts into their chat, system_messages_total."""
    marketplace = campaign_with_accepted_creator(base)
    brand, creator = marketplace.brand.token, marketplace.creator.token
    submitted = post(
        base,
        f"/applications/{marketplace.application_id}/deliverables",
        {"type": "reel", "platform": "instagram", "url": "https://instagram.com/p/dash"},
        creator,
    )
    submitted.raise_for_status()
    one = f"/deliverables/{submitted.json()['id']}"
    post(base, f"{one}/request-changes", {"note": "Generated load"}, brand).raise_for_status()
    put(base, one, {"url": "https://instagram.com/p/dash-2"}, creator).raise_for_status()
    post(base, f"{one}/approve", token=brand).raise_for_status()


LOAD_STEPS: list[Callable[[str], None]] = [
    sign_up_and_use,
    breach_rate_limit,
    run_marketplace,
    ingest_analytics_events,
    reread,
    poison_message,
    chat,
    deliver,
]
LOAD_ROUNDS = 5
ROUND_SPACING_SECONDS = 1.0  # spread the load over several scrapes so rates have two points


# --- prometheus -----------------------------------------------------------------------------


def prometheus_config(targets: dict[str, str]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS / "rules" / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]}
            for job, address in targets.items()
        ],
    }


def start_prometheus(config_file: Path, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed: bash scripts/provision.sh")
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def query(prometheus: str, expr: str) -> tuple[str, list[Any]]:
    """("ok", result) or ("error", message)."""
    response = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    if body.get("status") != "success":
        return "error", [body.get("error", response.text)]
    return "ok", body["data"]["result"]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except requests.RequestException:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout}s")
        time.sleep(0.5)


def concrete(expr: str) -> str:
    for variable, value in QUERY_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def check_panels(report: Report, prometheus: str, running: set[str]) -> None:
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for title, expr in dashboard_queries(json.loads(path.read_text())):
            name = f"{path.stem} / {title}"
            status, result = query(prometheus, concrete(expr))
            if status == "error":
                report.result(name, False, f"query does not parse: {result[0]}")
                continue
            if result:
                report.result(name, True, f"{len(result)} series")
                continue
            exporter = exporter_of(expr)
            if exporter == "kong":
                report.skip(name, "no data: Kong does not run on this machine (compose/k8s only)")
            elif exporter not in running:
                report.skip(name, f"no data: {exporter} does not run in this checkout")
            elif exporter not in LOADED_EXPORTERS:
                report.skip(name, f"no data: the generated load does not exercise {exporter} yet")
            else:
                report.result(name, False, f"no data although {exporter} ran under load: {expr}")


def event_consumers_running(processes: list[Any]) -> bool:
    for process in processes:
        module = process.command[-1].partition(":")[0]
        source = Path(module.replace(".", "/") + ".py")
        if source.exists() and "event_handler" in source.read_text():
            return True
    return False


def put_load(prometheus: str, base: str, targets: dict[str, str]) -> None:
    """Wait for Prometheus and every target, put the load on, wait for the rules it feeds."""
    wait_for(lambda: requests.get(f"{prometheus}/-/ready", timeout=2).ok, 30, "Prometheus ready")
    wanted_up = len(targets)
    wait_for(
        lambda: (r := query(prometheus, "sum(up)")[1]) and float(r[0]["value"][1]) >= wanted_up,
        30,
        f"all {wanted_up} scrape targets up",
    )
    for _ in range(LOAD_ROUNDS):
        for step in LOAD_STEPS:
            step(base)
        time.sleep(ROUND_SPACING_SECONDS)
    # The 5m SLO recording rules need two evaluations after the load; wait for them.
    wait_for(
        lambda: query(prometheus, "gateway:slo_latency_slow:ratio_rate5m")[1],
        30,
        "recording rules evaluated",
    )
    wait_for(
        lambda: query(prometheus, "sum(rate(ratelimit_rejections_total[30s])) > 0")[1],
        30,
        "rate-limit rejections scraped",
    )


def main() -> int:
    global CHAT_URL, AMQP_URI
    prometheus_port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="dashboards-check-"))
    env = {
        "RATE_LIMIT_PER_SUBJECT": f"{PER_SUBJECT_LIMIT}/minute",
        "RATE_LIMIT_PER_IP": "100000/minute",
        # every sign-in comes from 127.0.0.1, and counters outlive a run: repeated checks within
        # 15 minutes must not be throttled by the per-IP login and registration limits
        "LOGIN_FAILURES_PER_IP": "100000/15minute",
        "REGISTRATIONS_PER_IP": "100000/15minute",
        "LOG_LEVEL": "WARNING",
    }
    prometheus_process: subprocess.Popen[bytes] | None = None
    report = Report()
    harness = isolated_stack(SCRATCH, env, other_ports=(prometheus_port,), ready_timeout=90)
    try:
        with harness as stack:
            AMQP_URI = stack.env["AMQP_URI"]
            processes = stack.stack.processes
            ws_address = next(p.env["WS_ADDRESS"] for p in processes if p.name == "ws")
            CHAT_URL = f"ws://{ws_address}/ws"
            targets = {"gateway_http": f"127.0.0.1:{stack.gateway_port}"}
            for process in processes:
                if process.env.get("METRICS_PORT"):
                    targets[process.name] = f"127.0.0.1:{process.env['METRICS_PORT']}"
            running = {process.name for process in processes}
            try:
                requests.get(f"http://{RABBITMQ_METRICS}/metrics", timeout=3).raise_for_status()
                targets["rabbitmq"] = RABBITMQ_METRICS
                running.add("rabbitmq")
            except requests.RequestException:
                print("RabbitMQ's Prometheus endpoint is off (scripts/provision.sh enables it)")
            if event_consumers_running(processes):
                running.add("event consumers")
            config_file = scratch / "prometheus.yml"
            config_file.write_text(yaml.safe_dump(prometheus_config(targets)))
            prometheus_process = start_prometheus(config_file, scratch / "data", prometheus_port)
            put_load(f"http://127.0.0.1:{prometheus_port}", stack.base_url, targets)
            check_panels(report, f"http://127.0.0.1:{prometheus_port}", running)
    finally:
        if prometheus_process is not None:
            os.killpg(prometheus_process.pid, signal.SIGTERM)
            prometheus_process.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    summary = f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped"
    print(f"dashboards-check: {summary}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
