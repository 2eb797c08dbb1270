"""Property-based API check with schemathesis against a live stack: `make fuzz`.

Starts its own stack (own database, Redis db, RabbitMQ vhost, ports; rate limits lifted so the
run measures the API, not the limiter), seeds a brand and a creator with profiles, campaigns,
applications and a deliverable (see seed), then runs `st run` as the brand and as the creator:
the examples, coverage and fuzzing phases (FUZZ_MAX_TIME seconds), then the stateful phase
(FUZZ_STATEFUL_TIME seconds). Fails on any failure in any run: a 5xx, a response that does not
match the OpenAPI document, a schema-violating request accepted, ... FUZZ_REPORT_DIR keeps a HAR
of every request and answer.

Runs every check (`--checks all`) over path, query, header and body parameters, and the stateful
phase, which follows the document's links (POST /campaigns -> /campaigns/{id}/...) with real ids.
A schema-valid request answered 422 is a failure, except on the operations whose document lists
rules beyond the schema (x-rules-beyond-schema; schemathesis.toml names them). 403/404/409/412
are business answers (another role's or owner's object, a state, a stale If-Match).
Point it at your own stack's stores with FUZZ_DATABASE_URL, FUZZ_REDIS_URL, FUZZ_CLICKHOUSE_URL
and FUZZ_VHOST when others run it on the same machine.
"""

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import get_args

import requests

from kernel.config import PROJECT_ROOT
from kernel.vocabulary import Platform
from scripts.isolated_stack import NO_EDGE_LIMITS, Scratch, isolated_stack

SCRATCH = Scratch.from_env("FUZZ", "fuzz", redis_db=14)
# Seconds per role for each of the two runs: the examples, coverage and fuzzing phases, then the
# stateful phase (one run would let fuzzing, which repeats until the budget is spent, take it all).
MAX_TIME = os.environ.get("FUZZ_MAX_TIME", "60")
STATEFUL_TIME = os.environ.get("FUZZ_STATEFUL_TIME", "60")
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "20")
PASSWORD = "fuzzing password 2026"  # noqa: S105 - throwaway accounts in a scratch database
# Every check; schemathesis.toml says which answers a schema-valid request may get by design.
CHECKS = "all"
RUNS = (("examples,coverage,fuzzing", MAX_TIME), ("stateful", STATEFUL_TIME))
# The roles of the operations whose service, not the route, decides who may act (the campaign's
# brand, the applicant); the document states the others' roles (x-roles).
SERVICE_ROLES = {
    "shortlist_application": ("brand",),
    "accept_application": ("brand",),
    "reject_application": ("brand",),
    "withdraw_application": ("creator",),
}


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


def post(base: str, path: str, token: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.post(f"{base}{path}", json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


def seed(base: str) -> tuple[str, str]:
    """A brand with eleven published campaigns, a creator who applied to three; the first
    application accepted with a deliverable submitted: lists then hold objects in every state a
    role can act on (apply, shortlist, accept, review, resubmit, withdraw), which schemathesis
    reaches from them. An application is one per campaign and creator, hence the open ones."""
    from tests.e2e.marketplace import brand_profile, campaign_body, creator_profile

    brand = account(base, "brand", brand_profile())
    creator = account(base, "creator", creator_profile())
    # The open ones ask nothing of a profile the fuzzing has rewritten but a platform.
    anyone = {
        "platforms": list(get_args(Platform)),
        "requirements": {"min_followers": 0, "countries": []},
    }
    campaigns = []
    for number in range(11):
        body = campaign_body() if number < 3 else campaign_body(**anyone)
        campaigns.append(post(base, "/campaigns", brand, body))
        post(base, f"/campaigns/{campaigns[-1]['id']}/publish", brand)
    applications = []
    for campaign in campaigns[:3]:
        rate = {"amount": 100, "currency": campaign["budget"]["currency"]}
        body = {"pitch": "hello", "proposed_rate": rate}
        applications.append(post(base, f"/campaigns/{campaign['id']}/applications", creator, body))
    accepted = applications[0]["id"]
    post(base, f"/applications/{accepted}/accept", brand)
    reel = {"type": "reel", "platform": "instagram", "url": "https://instagram.com/p/fuzz"}
    post(base, f"/applications/{accepted}/deliverables", creator, reel)
    return brand, creator


def refused_to(role: str, document: dict) -> list[str]:
    """The operations another role may call but this one may not (403)."""
    return sorted(
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if role not in operation.get("x-roles", SERVICE_ROLES.get(operation["operationId"], [role]))
    )


def role_config(role: str, document: dict, directory: Path) -> Path:
    """schemathesis.toml plus, for this role, no stateful steps into operations it may not call:
    its steps go to chains it can walk; the other phases still call them and check the 403."""
    listed = ", ".join(f'"{operation}"' for operation in refused_to(role, document))
    path = directory / f"schemathesis-{role}.toml"
    path.write_text(
        (PROJECT_ROOT / "schemathesis.toml").read_text()
        + f"\n[[operations]]\ninclude-operation-id = [{listed}]\nphases.stateful.enabled = false\n"
    )
    return path


def run_schemathesis(base_url: str, role: str, token: str) -> bool:
    """True when both runs found nothing."""
    document = requests.get(f"{base_url}/api/v1/openapi.json", timeout=10).json()
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as directory:
        config = role_config(role, document, Path(directory))
        codes = [
            _run_schemathesis(base_url, role, token, config, phases, seconds)
            for phases, seconds in RUNS
        ]
    return not any(codes)


def _run_schemathesis(
    base_url: str, role: str, token: str, config: Path, phases: str, seconds: str
) -> int:
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config),
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
        seconds,
        "--seed",
        os.environ.get("FUZZ_SEED", "2026"),
        "--phases",
        phases,
        # One worker: schemathesis' workers are threads, and CPython before 3.11.8 races
        # ast.parse across threads ("SystemError: AST constructor recursion depth mismatch",
        # gh-106905), which hypothesis calls to describe a lambda. On two cores one worker also
        # sends more requests in the same time than two.
        "--workers",
        "1",
        # An event batch's schema (date-time pattern + format, bounded arrays) makes hypothesis
        # discard many drafts; that is a generator health check, not an API failure.
        "--suppress-health-check",
        "filter_too_much",
    ]
    report = os.environ.get("FUZZ_REPORT_DIR")  # every request and answer, to see what ran
    if report:
        command += ["--report", "har", "--report-dir", str(Path(report) / role / phases)]
    print(f"--- schemathesis as {role}: {phases} ---", flush=True)
    return subprocess.run(command, cwd=PROJECT_ROOT, check=False).returncode


def main() -> None:
    with isolated_stack(
        SCRATCH, {**NO_EDGE_LIMITS, "LOG_LEVEL": "WARNING"}, ready_timeout=90
    ) as stack:
        brand, creator = seed(f"{stack.base_url}/api/v1")
        failures = [
            role
            for role, token in (("brand", brand), ("creator", creator))
            if not run_schemathesis(stack.base_url, role, token)
        ]
    if failures:
        sys.exit(f"schemathesis found problems as {', '.join(failures)}")
    print("schemathesis: no failures as brand or creator")


if __name__ == "__main__":
    main()
