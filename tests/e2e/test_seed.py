"""`make seed` against the running stack: a living marketplace, and idempotent."""

import os
import subprocess
import sys

import pytest
import requests

from kernel.config import PROJECT_ROOT
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


def run_seed(api):
    env = {**os.environ, "API_URL": api.url("/api/v1")}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.seed"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_seed_builds_a_marketplace_and_can_run_again(api):
    first = run_seed(api)
    assert "campaign published" in first and "campaign closed" in first
    login = requests.post(
        api.url("/api/v1/auth/login"),
        json={"email": "brand@demo.example.com", "password": "demo password 2026"},
        timeout=10,
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    mine = requests.get(api.url("/api/v1/campaigns?mine=true"), headers=headers, timeout=10)
    assert sorted(c["status"] for c in mine.json()["items"]) == [
        "closed",
        "draft",
        "paused",
        "published",
        "published",
    ]
    received = requests.get(
        api.url("/api/v1/applications?limit=100"), headers=headers, timeout=10
    ).json()["items"]
    assert {"accepted", "shortlisted", "rejected", "submitted"} <= {a["status"] for a in received}
    creators = requests.get(api.url("/api/v1/creators?limit=100"), headers=headers, timeout=10)
    assert len(creators.json()["items"]) == 8

    def impressions(campaign):
        url = api.url(f"/api/v1/campaigns/{campaign['id']}/analytics/summary")
        return requests.get(url, headers=headers, timeout=10).json()["impressions"]

    live = [c for c in mine.json()["items"] if c["status"] != "draft"]
    # Campaigns with an accepted creator have events (written by analytics a moment later).
    wait_until(lambda: sum(impressions(c) > 0 for c in live) >= 2, timeout=30, interval=0.5)

    def chat_bodies():
        conversations = requests.get(
            api.url("/api/v1/conversations"), headers=headers, timeout=10
        ).json()["items"]
        bodies = []
        for conversation in conversations:  # deliverables' system messages are elsewhere too
            history = requests.get(
                api.url(f"/api/v1/conversations/{conversation['id']}/messages?after_seq=0"),
                headers=headers,
                timeout=10,
            ).json()["items"]
            bodies += [m["body"] for m in history if m["kind"] == "user"]
        return bodies

    assert len(chat_bodies()) == 4

    def deliverable_states():
        states = set()
        for campaign in live:
            url = api.url(f"/api/v1/campaigns/{campaign['id']}/deliverables?limit=100")
            states |= {
                d["status"] for d in requests.get(url, headers=headers, timeout=10).json()["items"]
            }
        return states

    assert {"approved", "submitted", "changes_requested"} <= deliverable_states()

    link_line = next(line for line in first.splitlines() if line.startswith("link "))
    link_url = link_line.split()[1]
    followed = requests.get(
        link_url,
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0"},
        allow_redirects=False,
        timeout=10,
    )
    assert followed.status_code == 302
    assert followed.headers["Location"].startswith("https://shop.demo.example.com/trail-boots")

    second = run_seed(api)
    assert "created" not in second
    assert link_line in second.splitlines()  # the same link, not a new one
    assert len(chat_bodies()) == 4
    again = requests.get(api.url("/api/v1/campaigns?mine=true"), headers=headers, timeout=10)
    assert len(again.json()["items"]) == 5
