"""A real HTTP client against the stack running as processes."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from kernel.config import load_config, resolve_path

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
JWT_CONFIG = load_config()["JWT"]


def post(api, path, body=None, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(api.url(path), json=body, headers=headers, timeout=15, **kwargs)


def get(api, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(api.url(path), headers=headers, timeout=15)


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    return problem


def test_register_login_me_refresh_reuse_logout(api):
    registered = post(
        api,
        "/api/v1/auth/register",
        {
            "email": "Brand@Example.com",
            "password": PASSWORD,
            "role": "brand",
            "display_name": "Acme",
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["email"] == "brand@example.com"

    session_a = post(
        api, "/api/v1/auth/login", {"email": "brand@example.com", "password": PASSWORD}
    )
    assert session_a.status_code == 200
    tokens = session_a.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0

    me = get(api, "/api/v1/me", tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["id"] == registered.json()["id"] and me.json()["role"] == "brand"
    assert int(me.headers["RateLimit-Remaining"]) >= 0

    rotated = post(api, "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    assert get(api, "/api/v1/me", rotated.json()["access_token"]).status_code == 200

    reused = post(api, "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_problem(reused, 401)
    # Reuse means a token leaked: the whole session, including its newest tokens, is revoked.
    assert_problem(get(api, "/api/v1/me", rotated.json()["access_token"]), 401)
    assert_problem(
        post(api, "/api/v1/auth/refresh", {"refresh_token": rotated.json()["refresh_token"]}), 401
    )

    session_b = post(
        api, "/api/v1/auth/login", {"email": "brand@example.com", "password": PASSWORD}
    ).json()
    logout = post(
        api,
        "/api/v1/auth/logout",
        {"refresh_token": session_b["refresh_token"]},
        token=session_b["access_token"],
    )
    assert logout.status_code == 204
    assert_problem(get(api, "/api/v1/me", session_b["access_token"]), 401)
    assert_problem(
        post(api, "/api/v1/auth/refresh", {"refresh_token": session_b["refresh_token"]}), 401
    )


def test_request_id_is_echoed_or_generated(api):
    assert get(api, "/healthz").headers["X-Request-ID"]
    response = requests.get(api.url("/healthz"), headers={"X-Request-ID": "trace-123"}, timeout=5)
    assert response.headers["X-Request-ID"] == "trace-123"


def test_ops_endpoints(api):
    assert get(api, "/readyz").json()["checks"] == {"redis": "ok", "rabbitmq": "ok"}
    get(api, "/healthz")
    metrics = get(api, "/metrics").text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    document = get(api, "/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0" and "/api/v1/me" in document["paths"]


# --- bad input: each gets its exact status as problem+json and writes nothing ---------------------


def _private_key():
    return serialization.load_pem_private_key(
        resolve_path(JWT_CONFIG["PRIVATE_KEY_FILE"]).read_bytes(), password=None
    )


ACCESS_TOKEN_HEADERS = {"kid": str(JWT_CONFIG["KEY_ID"]), "typ": "at+jwt"}


def _claims(**overrides):
    now = int(time.time())
    claims = {
        "iss": JWT_CONFIG["ISSUER"],
        "aud": JWT_CONFIG["AUDIENCE"],
        "sub": str(uuid.uuid4()),
        "role": "brand",
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tampered():
    header, _payload, signature = _signed().split(".")
    return f"{header}.{_b64(json.dumps(_claims(role='admin')).encode())}.{signature}"


def _alg_none():
    return jwt.encode(_claims(), None, algorithm="none", headers=ACCESS_TOKEN_HEADERS)


def _hs256_with_public_key():
    public_pem = resolve_path(JWT_CONFIG["PUBLIC_KEY_FILE"]).read_bytes()
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', **ACCESS_TOKEN_HEADERS}).encode())}."
        f"{_b64(json.dumps(_claims()).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _signed(headers=None, **overrides):
    """Signed with the stack's own key and headed like auth's tokens unless `headers` differ."""
    all_headers = {**ACCESS_TOKEN_HEADERS, **(headers or {})}
    return jwt.encode(_claims(**overrides), _private_key(), algorithm="EdDSA", headers=all_headers)


VALID = {"email": "new@example.com", "password": PASSWORD, "role": "creator"}
JSON = {"Content-Type": "application/json"}

BAD_INPUT = [
    (
        "missing field",
        "register",
        {"data": json.dumps({"email": "new@example.com", "role": "creator"}), "headers": JSON},
        422,
    ),
    (
        "extra field",
        "register",
        {"data": json.dumps({**VALID, "is_admin": True}), "headers": JSON},
        422,
    ),
    (
        "wrong type",
        "register",
        {"data": json.dumps({**VALID, "password": 12345678901}), "headers": JSON},
        422,
    ),
    (
        "admin role",
        "register",
        {"data": json.dumps({**VALID, "role": "admin"}), "headers": JSON},
        422,
    ),
    (
        "weak password",
        "register",
        {"data": json.dumps({**VALID, "password": "short"}), "headers": JSON},
        422,
    ),
    ("not an object", "register", {"data": json.dumps([VALID]), "headers": JSON}, 422),
    ("bad JSON", "register", {"data": '{"email": "new@example.com",', "headers": JSON}, 400),
    (
        "wrong content type",
        "register",
        {"data": json.dumps(VALID), "headers": {"Content-Type": "text/plain"}},
        415,
    ),
    (
        "oversized body",
        "register",
        {"data": json.dumps({**VALID, "display_name": "x" * 1_100_000}), "headers": JSON},
        413,
    ),
    ("no token", "me", {}, 401),
    ("tampered signature", "me", {"token": _tampered}, 401),
    ("alg none", "me", {"token": _alg_none}, 401),
    ("HS256 signed with the public key", "me", {"token": _hs256_with_public_key}, 401),
    (
        "expired token",
        "me",
        {
            "token": lambda: _signed(
                exp=int(time.time()) - 120, iat=int(time.time()) - 900, nbf=int(time.time()) - 900
            )
        },
        401,
    ),
    ("wrong audience", "me", {"token": lambda: _signed(aud="another-api")}, 401),
    ("typ JWT (not an access token)", "me", {"token": lambda: _signed({"typ": "JWT"})}, 401),
    ("unknown kid", "me", {"token": lambda: _signed({"kid": "retired-key"})}, 401),
    ("wrong issuer", "me", {"token": lambda: _signed(iss="https://evil.example")}, 401),
    ("unknown route", "missing", {}, 404),
    ("wrong method", "me-delete", {}, 405),
]


def _row_counts(db_engine):
    with db_engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT (SELECT count(*) FROM auth.users),"
                " (SELECT count(*) FROM auth.refresh_tokens),"
                " (SELECT count(*) FROM auth.outbox)"
            )
        ).one()


@pytest.mark.parametrize(
    ("case", "target", "request_args", "status"), BAD_INPUT, ids=[case[0] for case in BAD_INPUT]
)
def test_bad_input_is_refused_precisely_and_changes_nothing(
    api, db_engine, case, target, request_args, status
):
    before = _row_counts(db_engine)
    if target == "register":
        response = requests.post(api.url("/api/v1/auth/register"), timeout=15, **request_args)
    elif target == "me":
        token = request_args.get("token")
        response = get(api, "/api/v1/me", token() if token else None)
    elif target == "missing":
        response = get(api, "/api/v1/nothing-here")
    else:
        response = requests.delete(api.url("/api/v1/me"), timeout=15)
    problem = assert_problem(response, status)
    if status == 422:
        assert problem["errors"] and all("field" in error for error in problem["errors"])
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 405:
        assert response.headers["Allow"]
    assert _row_counts(db_engine) == before


def test_rate_limit_answers_429_with_headers(api, redis_client):
    from kernel.ratelimit import RateLimiter

    limit = "1000/minute"  # the stack's RATE_LIMIT_PER_IP in the e2e environment
    limiter = RateLimiter(api.env["REDIS_URL"], namespace="gateway")
    for _ in range(1000):
        limiter.hit(limit, "ip:127.0.0.1")
    response = get(api, "/api/v1/me")
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Limit"] == "1000"
    assert response.headers["RateLimit-Remaining"] == "0"
