"""kong/kong.yml agrees with the gateway and the token codec: which routes need a JWT at the
edge, which key verifies the platform's tokens, request ids and body limits, and Kong's own
refusals look like the gateway's (problem+json, one set of RateLimit headers)."""

import copy
import json
import re
import shutil
import subprocess
import uuid

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway_http import openapi
from gateway_http.edge import REQUEST_ID_PATTERN
from gateway_http.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problem_response
from gateway_http.service import GatewayService
from kernel.config import load_config
from kernel.ratelimit import Decision
from kernel.tokens import TokenCodec
from scripts import render_kong

KONG = yaml.safe_load(render_kong.KONG_TEMPLATE.read_text())


def kong_route(name: str) -> dict:
    return next(r for s in KONG["services"] for r in s.get("routes", []) if r["name"] == name)


def plugin(entity: dict, name: str) -> dict | None:
    return next((p for p in entity.get("plugins", []) if p["name"] == name), None)


def matches(kong_path: str, url: str) -> bool:
    concrete = re.sub(r"<[^>]+>", "sample", url)
    if kong_path.startswith("~"):
        return re.match(kong_path[1:], concrete) is not None
    return concrete.startswith(kong_path)


def api_routes(authenticated: bool) -> list[str]:
    return [
        route.url
        for _, route in openapi.collect_routes(GatewayService)
        if route.url.startswith("/api/v1") and route.spec.authenticated is authenticated
    ]


def test_every_anonymous_api_route_is_on_the_public_kong_route():
    # The conversion postback authenticates with an ingestion key: on the ingest route.
    public_paths = kong_route("api-public")["paths"] + kong_route("api-ingest")["paths"]
    for url in api_routes(authenticated=False):
        assert any(matches(path, url) for path in public_paths), url


def test_tracking_links_are_followed_without_a_jwt():
    redirect = kong_route("tracking-redirect")
    assert plugin(redirect, "jwt") is None
    assert redirect["paths"] == ["/t/"] and "GET" in redirect["methods"]
    public = [r.url for _, r in openapi.collect_routes(GatewayService) if not r.spec.authenticated]
    assert "/t/<code>" in public


def test_no_authenticated_api_route_bypasses_kong_jwt():
    public_paths = kong_route("api-public")["paths"]
    for url in api_routes(authenticated=True):
        assert not any(matches(path, url) for path in public_paths), url
    assert plugin(kong_route("api-public"), "jwt") is None


def test_only_event_ingestion_reaches_the_gateway_without_a_jwt_for_ingestion_keys():
    ingest = kong_route("api-ingest")
    assert plugin(ingest, "jwt") is None
    assert ingest["methods"] == ["POST"]
    covered = [url for url in api_routes(authenticated=True) if matches(ingest["paths"][0], url)]
    assert covered == ["/api/v1/analytics/events"]


def test_jwt_checks_signature_by_kid_and_expiry():
    config = plugin(kong_route("api"), "jwt")["config"]
    assert config["key_claim_name"] == "kid"
    assert "exp" in config["claims_to_verify"]
    assert config["maximum_expiration"] >= int(load_config()["JWT"]["ACCESS_TTL_SECONDS"])


def test_tokens_in_urls_are_never_asked_for_and_ws_verifies_its_own():
    # Browsers pass the chat token as a subprotocol, which Kong's jwt plugin cannot read: the
    # hub verifies it before the upgrade; Kong still limits the route per address.
    assert plugin(kong_route("ws"), "jwt") is None
    ws_service = next(s for s in KONG["services"] if s["name"] == "ws")
    assert plugin(ws_service, "rate-limiting")["config"]["limit_by"] == "ip"
    assert plugin(kong_route("api"), "jwt")["config"]["uri_param_names"] == []


def test_request_ids_kong_generates_are_accepted_by_the_gateway():
    config = plugin(KONG, "correlation-id")["config"]
    assert config["header_name"] == "X-Request-ID"
    assert config["generator"] == "uuid"  # "uuid#counter" would contain '#'
    assert REQUEST_ID_PATTERN.match(str(uuid.uuid4()))


def test_body_limit_matches_the_gateway_default():
    config = plugin(KONG, "request-size-limiting")["config"]
    assert config["size_unit"] == "megabytes"
    gateway_limit = int(load_config()["GATEWAY"]["MAX_BODY_BYTES"])
    assert config["allowed_payload_size"] * 1024 * 1024 == gateway_limit


def test_prometheus_exports_status_latency_bandwidth_and_upstream_health():
    config = plugin(KONG, "prometheus")["config"]
    for flag in ("status_code", "latency", "bandwidth", "upstream_health"):
        assert config[f"{flag}_metrics"] is True, flag


def test_rate_limits_share_counters_in_redis():
    limits = [plugin(service, "rate-limiting") for service in KONG["services"]]
    limits.append(plugin(KONG["consumers"][0], "rate-limiting"))
    assert all(limit and limit["config"]["policy"] == "redis" for limit in limits)
    assert {limit["config"]["limit_by"] for limit in limits} == {"ip", "header"}


@pytest.fixture
def key_config(tmp_path):
    private_key = Ed25519PrivateKey.generate()
    public_file = tmp_path / "public.pem"
    public_file.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = load_config()
    config["JWT"] = {**config["JWT"], "PUBLIC_KEY_FILE": str(public_file), "KEY_ID": "rotation-7"}
    return config, private_key


def test_rendered_credential_verifies_the_platforms_tokens(key_config):
    config, private_key = key_config
    codec = TokenCodec(
        issuer=config["JWT"]["ISSUER"],
        audience=config["JWT"]["AUDIENCE"],
        key_id=config["JWT"]["KEY_ID"],
        access_ttl_seconds=900,
        leeway_seconds=0,
        public_key=private_key.public_key(),
        private_key=private_key,
    )
    token, _ = codec.issue_access_token(subject=str(uuid.uuid4()), role="brand", session_id="s")

    rendered = render_kong.render_declarative(
        copy.deepcopy(KONG), render_kong.jwt_credential(config)
    )
    (credential,) = rendered["consumers"][0]["jwt_secrets"]

    header = jwt.get_unverified_header(token)
    assert credential["key"] == header["kid"]  # what key_claim_name: kid looks up
    assert credential["algorithm"] == header["alg"] == "EdDSA"
    public_key = serialization.load_pem_public_key(credential["rsa_public_key"].encode())
    claims = jwt.decode(token, public_key, algorithms=["EdDSA"], audience=codec.audience)
    assert claims["iss"] == codec.issuer


def test_render_refuses_a_key_that_is_not_ed25519(key_config, tmp_path):
    config, _ = key_config
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    other = tmp_path / "ec.pem"
    other.write_bytes(
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    config["JWT"]["PUBLIC_KEY_FILE"] = str(other)
    with pytest.raises(SystemExit, match="not an Ed25519 key"):
        render_kong.jwt_credential(config)


def test_k8s_secret_is_a_kong_jwt_credential(key_config):
    config, _ = key_config
    secret = render_kong.k8s_secret(render_kong.jwt_credential(config), "influencer")
    assert secret["metadata"]["labels"] == {"konghq.com/credential": "jwt"}
    assert set(secret["stringData"]) == {"key", "algorithm", "rsa_public_key"}


def test_during_a_key_rotation_kong_gets_a_credential_per_key(key_config, tmp_path):
    config, _ = key_config
    retired = tmp_path / "retired.pem"
    retired.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    config["JWT"]["PREVIOUS_PUBLIC_KEY_FILE"] = str(retired)
    config["JWT"]["PREVIOUS_KEY_ID"] = "rotation-6"
    rendered = render_kong.render_declarative(
        copy.deepcopy(KONG), render_kong.jwt_credentials(config)
    )
    keys = [item["key"] for item in rendered["consumers"][0]["jwt_secrets"]]
    assert keys == ["rotation-7", "rotation-6"]
    config["JWT"]["PREVIOUS_PUBLIC_KEY_FILE"] = ""
    assert [item["key"] for item in render_kong.jwt_credentials(config)] == ["rotation-7"]


# --- Kong's own refusals and RateLimit headers (issue 12, item 8) ------------------------------

K8S_KONG = [
    doc
    for doc in yaml.safe_load_all(
        (render_kong.PROJECT_ROOT / "deploy" / "k8s" / "base" / "kong.yaml").read_text()
    )
    if doc
]
PROBLEM_JSON = plugin(KONG, "post-function")

# A fake of the Kong PDK calls the post-function makes; prints the response it leaves behind.
HARNESS = r"""
local header_chunk, body_chunk, source, status, path, retry_after = ...
status = tonumber(status)
local headers = { ["Content-Type"] = "application/json; charset=utf-8", ["Content-Length"] = "37" }
if retry_after ~= "" then headers["Retry-After"] = retry_after end
local body = '{"message":"kong says no"}'
local chunks = { body:sub(1, 10), body:sub(11) }
local chunk, last = nil, false
kong = {
  ctx = { plugin = {} },
  request = {
    get_path = function() return path end,
    get_header = function(name) if name == "X-Request-ID" then return "rid-1" end end,
  },
  response = {
    get_source = function() return source end,
    get_status = function() return status end,
    get_header = function(name) return headers[name] end,
    set_header = function(name, value) headers[name] = value end,
    clear_header = function(name) headers[name] = nil end,
    -- like Kong's: buffers the chunks (passing none on) and returns the body at the last
    get_raw_body = function()
      chunk = last and body or nil
      return chunk
    end,
    set_raw_body = function(value) chunk = value end,
  },
}
local header_filter = assert(loadstring(header_chunk))()
local body_filter = assert(loadstring(body_chunk))()
header_filter()
local out = {}
for i, piece in ipairs(chunks) do
  chunk, last = piece, i == #chunks
  body_filter()
  out[#out + 1] = chunk
end
for _, name in ipairs({ "Content-Type", "Content-Length", "Retry-After" }) do
  print(name .. ": " .. tostring(headers[name]))
end
print(table.concat(out))
"""


def run_post_function(
    source: str, status: int, path: str = "/api/v1/me", retry_after: str = ""
) -> tuple[dict[str, str], str]:
    luajit = shutil.which("luajit")
    if luajit is None:
        pytest.skip("luajit is not installed (apt-get install luajit)")
    config = PROBLEM_JSON["config"]
    done = subprocess.run(
        [
            luajit,
            "-",
            config["header_filter"][0],
            config["body_filter"][0],
            source,
            str(status),
            path,
            retry_after,
        ],
        input=HARNESS,
        capture_output=True,
        text=True,
        check=True,
    )
    *header_lines, body = done.stdout.rstrip("\n").split("\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return headers, body


@pytest.mark.parametrize(
    ("status", "slug"),
    [(401, "unauthenticated"), (413, "payload-too-large"), (429, "too-many-requests")],
)
def test_kongs_own_refusals_are_problem_json_like_the_gateways(status, slug):
    path = '/api/v1/campaigns/"quoted"\\path'
    headers, body = run_post_function("exit", status, path)
    assert headers["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert headers["Content-Length"] == "nil"  # the body changed length
    problem = json.loads(body)
    assert problem == {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": problem["title"],
        "status": status,
        "detail": problem["detail"],
        "instance": path,
        "request_id": "rid-1",
        "errors": [],
    }
    # the same keys as the gateway's problems
    gateway = json.loads(
        problem_response(
            status=status, title="t", detail="d", slug=slug, instance="/", request_id="r"
        ).get_data()
    )
    assert set(problem) == set(gateway)


def test_kongs_429_tells_when_to_retry_though_its_rate_limit_headers_are_hidden():
    headers, _ = run_post_function("exit", 429)
    assert 1 <= int(headers["Retry-After"]) <= 60
    headers, _ = run_post_function("exit", 429, retry_after="17")
    assert headers["Retry-After"] == "17"


@pytest.mark.parametrize(("source", "status"), [("service", 401), ("service", 429), ("exit", 404)])
def test_the_gateways_answers_and_other_statuses_pass_untouched(source, status):
    headers, body = run_post_function(source, status)
    assert body == '{"message":"kong says no"}'
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Retry-After"] == "nil"


def test_k8s_runs_the_same_problem_json_code_globally():
    cluster_plugin = next(
        doc for doc in K8S_KONG if doc["metadata"]["name"] == "problem-json-errors"
    )
    assert cluster_plugin["plugin"] == "post-function"
    assert cluster_plugin["metadata"]["labels"] == {"global": "true"}
    assert cluster_plugin["config"] == PROBLEM_JSON["config"]
    assert PROBLEM_JSON in KONG["plugins"]  # global in compose too


def test_only_the_gateways_rate_limit_headers_reach_clients():
    """Kong's rate-limiting would overwrite the gateway's RateLimit-* (per subject) with its own
    edge counts: it hides them, and the gateway sends RateLimit-* on its answers."""
    compose_limits = [
        plugin(entity, "rate-limiting") for entity in [*KONG["services"], *KONG["consumers"]]
    ]
    k8s_limits = [doc for doc in K8S_KONG if doc.get("plugin") == "rate-limiting"]
    assert len(compose_limits) == len(k8s_limits) == 3
    for limit in [*compose_limits, *k8s_limits]:
        assert limit["config"]["hide_client_headers"] is True
    sent = Decision(allowed=True, limit=10, remaining=9, reset_after=30).headers()
    assert set(sent) == {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    exposed = plugin(KONG, "cors")["config"]["exposed_headers"]
    assert set(sent) | {"Retry-After"} <= set(exposed)
