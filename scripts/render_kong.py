"""Render Kong's JWT credential from the platform's generated Ed25519 public key.

kong/kong.yml is complete except the credential, whose public key differs per environment.
  python -m scripts.render_kong                 -> kong/kong.rendered.yml (what Kong loads)
  python -m scripts.render_kong --k8s-secret    -> a Secret for the Kong Ingress Controller's
                                                   KongConsumer, on stdout (kubectl apply -f -)
The credential's key is the token header's `kid` (kong.yml sets key_claim_name: kid), so a key
rotation adds a credential with the new kid next to the old one: while JWT.PREVIOUS_PUBLIC_KEY_FILE
is set, both keys of the set are rendered (on Kubernetes the second Secret is named
`<name>-previous`; list it in the KongConsumer's credentials for the rotation window).
"""

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kernel.config import PROJECT_ROOT, load_config, resolve_path

KONG_TEMPLATE = PROJECT_ROOT / "kong" / "kong.yml"
KONG_RENDERED = PROJECT_ROOT / "kong" / "kong.rendered.yml"
PLATFORM_CONSUMER = "influencer-platform"
K8S_CREDENTIAL_NAME = "kong-jwt-influencer-platform"
ALGORITHM = "EdDSA"
# Kong's proxy access log names the path ($uri), never the query string: a browser may open the
# chat socket as /ws?jwt=<token>, and nginx's default formats log $request (the request line).
# No Referer either: it is another page's URL, query included. nginx_http_* settings become
# directives of nginx's http block, before the proxy server that uses the format.
ACCESS_LOG_FORMAT = "platform_no_query"
ACCESS_LOG_FIELDS = (
    '$remote_addr [$time_local] "$request_method $uri $server_protocol" $status '
    '$body_bytes_sent $request_time "$http_user_agent" $kong_request_id'
)


def node_settings() -> dict[str, str]:
    """Kong's own settings (kong.conf names) that compose and the Kubernetes Helm values share:
    the access log without query strings, the client address from X-Forwarded-For (from the
    trusted proxies only: KONG_TRUSTED_IPS, set per environment)."""
    return {
        "nginx_http_log_format": f"{ACCESS_LOG_FORMAT} '{ACCESS_LOG_FIELDS}'",
        "proxy_access_log": f"/dev/stdout {ACCESS_LOG_FORMAT}",
        "proxy_error_log": "/dev/stderr",
        "real_ip_header": "X-Forwarded-For",
        "real_ip_recursive": "on",
    }


def _credential(key_id: str, public_key_file: str) -> dict[str, str]:
    pem = resolve_path(public_key_file).read_bytes()
    if not isinstance(serialization.load_pem_public_key(pem), Ed25519PublicKey):
        raise SystemExit("the JWT public key is not an Ed25519 key")
    return {"key": key_id, "algorithm": ALGORITHM, "rsa_public_key": pem.decode()}


def jwt_credential(config: dict[str, Any]) -> dict[str, str]:
    """The credential of the current signing key."""
    jwt_config = config["JWT"]
    if jwt_config["ALGORITHM"] != ALGORITHM:
        raise SystemExit(
            f"kong.yml expects {ALGORITHM} tokens, config says {jwt_config['ALGORITHM']}"
        )
    return _credential(str(jwt_config["KEY_ID"]), jwt_config["PUBLIC_KEY_FILE"])


def jwt_credentials(config: dict[str, Any]) -> list[dict[str, str]]:
    """One credential per key of the verification key set (current, then previous if set)."""
    jwt_config = config["JWT"]
    credentials = [jwt_credential(config)]
    if jwt_config.get("PREVIOUS_PUBLIC_KEY_FILE"):
        previous_id = str(jwt_config.get("PREVIOUS_KEY_ID") or "")
        if not previous_id or previous_id == credentials[0]["key"]:
            raise SystemExit("JWT.PREVIOUS_KEY_ID must name the previous key (not KEY_ID)")
        credentials.append(_credential(previous_id, jwt_config["PREVIOUS_PUBLIC_KEY_FILE"]))
    return credentials


def render_declarative(
    template: dict[str, Any], credential: dict[str, str] | list[dict[str, str]]
) -> dict[str, Any]:
    consumers = [c for c in template["consumers"] if c["username"] == PLATFORM_CONSUMER]
    if len(consumers) != 1:
        raise SystemExit(f"kong.yml must declare exactly one consumer {PLATFORM_CONSUMER}")
    # decK's schema requires `secret`; Kong never uses it for an asymmetric algorithm (the token's
    # alg must equal the credential's), so it is a fresh random value nobody knows.
    credentials = credential if isinstance(credential, list) else [credential]
    consumers[0]["jwt_secrets"] = [
        {**item, "secret": secrets.token_urlsafe(32)} for item in credentials
    ]
    return template


def k8s_secret(
    credential: dict[str, str], namespace: str, name: str = K8S_CREDENTIAL_NAME
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"konghq.com/credential": "jwt"},
        },
        "type": "Opaque",
        "stringData": credential,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=KONG_RENDERED)
    parser.add_argument("--k8s-secret", action="store_true", help="print a Secret instead")
    parser.add_argument("--namespace", default="influencer")
    args = parser.parse_args(argv)
    credentials = jwt_credentials(load_config())
    if args.k8s_secret:
        names = [K8S_CREDENTIAL_NAME, f"{K8S_CREDENTIAL_NAME}-previous"]
        yaml.safe_dump_all(
            [
                k8s_secret(item, args.namespace, name)
                for item, name in zip(credentials, names[: len(credentials)], strict=True)
            ],
            sys.stdout,
            sort_keys=False,
        )
        return
    rendered = render_declarative(yaml.safe_load(KONG_TEMPLATE.read_text()), credentials)
    header = "# Generated by `python -m scripts.render_kong` from kong/kong.yml; do not edit.\n"
    args.output.write_text(header + yaml.safe_dump(rendered, sort_keys=False))
    keys = ", ".join(item["key"] for item in credentials)
    print(f"wrote {args.output} (credential keys {keys})", file=sys.stderr)


if __name__ == "__main__":
    main()
