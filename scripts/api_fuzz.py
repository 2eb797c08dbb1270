"""Property-based API check with schemathesis against a live stack: `make fuzz`.

Starts its own stack (own database, Redis db, RabbitMQ vhost, ports; rate limits lifted so the
run measures the API, not the limiter), creates a brand and a creator with profiles, campaigns
and an application so path ids resolve, then runs `st run` once as the brand and once as the
creator. Fails on any 5xx, any response that does not match the OpenAPI document, and any
schema-violating request that is accepted. Bounded by FUZZ_MAX_TIME seconds per role.

Runs every check (`--checks all`) over path, query, header and body parameters, and the stateful
phase, which follows the document's links (POST /campaigns -> /campaigns/{id}/...) with real ids.
A schema-valid request answered 422 is a failure, except on the operations whose document lists
rules beyond the schema (x-rules-beyond-schema; schemathesis.toml names them). 403/404/409/412
are business answers (another role's or owner's object, a state, a stale If-Match).
Point it at your own stack's stores with FUZZ_DATABASE_URL, FUZZ_REDIS_URL, FUZZ_CLICKHOUSE_URL
and FUZZ_VHOST when others run it on the same machine.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import requests

from kernel.config import PROJECT_ROOT
from scripts.isolated_stack import delete_vhost, free_metrics_base, free_port, fresh_vhost
from scripts.stack import Stack, default_processes

VHOST = os.environ.get("FUZZ_VHOST", "influencer_fuzz")
DATABASE_URL = os.environ.get(
    "FUZZ_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/influencer_fuzz"
)
REDIS_URL = os.environ.get("FUZZ_REDIS_URL", "redis://127.0.0.1:6379/14")
CLICKHOUSE_URL = os.environ.get(
    "FUZZ_CLICKHOUSE_URL", "clickhouse://default@127.0.0.1:9000/analytics_fuzz"
)
MAX_TIME = os.environ.get("FUZZ_MAX_TIME", "60")
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "20")
PASSWORD = "fuzzing password 2026"  # noqa: S105 - throwaway accounts in a scratch database
# Every check; schemathesis.toml says which answers a schema-valid request may get by design.
CHECKS = "all"
PHASES = "examples,coverage,fuzzing,stateful"


def account(base: str, role: str, profile: dict) -> str:
    email = f"fuzz-{role}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "role": role}
    requests.post(f"{base}/auth/register", json=body, timeout=10).raise_for_status()
    login = requests.post(
        f"{base}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    login.raise_for_status()
    token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    requests.put(f"{base}/me/profile", json=profile, headers=headers, timeout=10).raise_for_status()
    return token


def seed(base: str) -> tuple[str, str]:
    from tests.e2e.marketplace import brand_profile, campaign_body, creator_profile

    brand = account(base, "brand", brand_profile())
    creator = account(base, "creator", creator_profile())
    brand_headers = {"Authorization": f"Bearer {brand}"}
    for _ in range(2):
        campaign = requests.post(
            f"{base}/campaigns", json=campaign_body(), headers=brand_headers, timeout=10
        ).json()
        requests.post(
            f"{base}/campaigns/{campaign['id']}/publish", headers=brand_headers, timeout=10
        )
    requests.post(
        f"{base}/campaigns/{campaign['id']}/applications",
        json={"pitch": "hello", "proposed_rate": {"amount": 100, "currency": "EUR"}},
        headers={"Authorization": f"Bearer {creator}"},
        timeout=10,
    ).raise_for_status()
    return brand, creator


def run_schemathesis(base_url: str, role: str, token: str) -> int:
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-path",
        "/api/v1/auth/logout",  # would revoke the token the rest of the run uses
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        "--max-time",
        MAX_TIME,
        "--seed",
        os.environ.get("FUZZ_SEED", "2026"),
        "--phases",
        PHASES,
        "--workers",
        "2",
        # An event batch's schema (date-time pattern + format, bounded arrays) makes hypothesis
        # discard many drafts; that is a generator health check, not an API failure.
        "--suppress-health-check",
        "filter_too_much",
    ]
    print(f"--- schemathesis as {role} ---", flush=True)
    return subprocess.run(command, cwd=PROJECT_ROOT, check=False).returncode


def main() -> None:
    from scripts import migrate

    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ["CLICKHOUSE_URL"] = CLICKHOUSE_URL
    migrate.main()
    port = free_port()
    mongo_dir = tempfile.mkdtemp(prefix="fuzz-mongo-")
    env = {
        "AMQP_URI": fresh_vhost(VHOST),
        "MONGO_URL": f"embedded://{mongo_dir}",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CLICKHOUSE_URL": CLICKHOUSE_URL,
        "RATE_LIMIT_PER_IP": "1000000/minute",
        "RATE_LIMIT_PER_SUBJECT": "1000000/minute",
        "LOGIN_FAILURES_PER_IP": "1000000/minute",
        "REGISTRATIONS_PER_IP": "1000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    stack = Stack(
        default_processes(port, metrics_base=free_metrics_base(avoid=(port,))), env=env, echo=False
    )
    stack.start()
    try:
        stack.wait_ready(timeout=90)
        base_url = f"http://127.0.0.1:{port}"
        brand, creator = seed(f"{base_url}/api/v1")
        failures = [
            role
            for role, token in (("brand", brand), ("creator", creator))
            if run_schemathesis(base_url, role, token) != 0
        ]
    finally:
        stack.stop()
        delete_vhost(VHOST)
        shutil.rmtree(mongo_dir, ignore_errors=True)
    if failures:
        sys.exit(f"schemathesis found problems as {', '.join(failures)}")
    print("schemathesis: no failures as brand or creator")


if __name__ == "__main__":
    main()
