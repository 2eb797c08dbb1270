"""Swagger UI at /api/v1/docs: the page and its assets come from the gateway itself (nothing from
a CDN: this machine has no network) under a strict Content-Security-Policy, and a real headless
browser renders the operations of /api/v1/openapi.json with it."""

import os
import re
import shutil
import subprocess

import pytest
import requests

pytestmark = pytest.mark.e2e

DOCS = "/api/v1/docs"


def test_the_docs_page_and_every_asset_it_names_are_served(api):
    page = requests.get(api.url(DOCS), timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert 'data-openapi-url="/api/v1/openapi.json"' in page.text
    assert "<script>" not in page.text  # no inline script: the policy would block it

    assets = re.findall(r'(?:src|href)="(/api/v1/docs/[^"]+)"', page.text)
    assert {"/api/v1/docs/swagger-ui-bundle.js", "/api/v1/docs/init.js"} <= set(assets)
    assert "/api/v1/docs/swagger-ui.css" in assets
    for path in assets:
        asset = requests.get(api.url(path), timeout=10)
        assert asset.status_code == 200, path
        assert asset.content, path
        assert asset.headers["X-Content-Type-Options"] == "nosniff", path
        kind = asset.headers["Content-Type"]
        if path.endswith(".js"):
            assert "javascript" in kind, path
        if path.endswith(".css"):
            assert kind.startswith("text/css"), path
    init = requests.get(api.url("/api/v1/docs/init.js"), timeout=10).text
    assert "SwaggerUIBundle" in init and "openapiUrl" in init
    assert requests.get(api.url("/api/v1/openapi.json"), timeout=10).status_code == 200


def test_an_unknown_asset_is_a_404_problem(api):
    answer = requests.get(api.url("/api/v1/docs/..%2Fservice.py"), timeout=10)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    answer = requests.get(api.url("/api/v1/docs/index.j2"), timeout=10)
    assert answer.status_code == 404


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/provision.sh installs it")
        pytest.skip("chromium is not installed (make provision installs it)")
    return found


def test_a_headless_browser_renders_the_operations(api, tmp_path):
    dom = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path}",
            # let the scripts load the document and render (virtual time: no real waiting)
            "--virtual-time-budget=15000",
            "--dump-dom",
            api.url(DOCS),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    # Swagger UI renders one block per operation, linked by tag and operationId.
    assert 'href="#/campaigns/list_campaigns"' in dom
    assert 'data-path="/api/v1/campaigns/{campaign_id}"' in dom
    assert 'href="#/auth/register"' in dom
    assert "Unable to render this definition" not in dom
