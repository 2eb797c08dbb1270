"""Static checks of every operations artefact, offline (`make ops-check` runs this, then
`make dashboards-check`). Each check prints PASS, FAIL or SKIP (with the reason); the last line
is "N passed, N failed, N skipped" and the exit status is 1 if anything failed.

  kong        deck validate kong/kong.yml, and a copy rendered with a throwaway key
  compose     docker-compose.yml: generated from deploy/processes.yml and up to date, services,
              pinned images, healthchecks, depends_on conditions, `docker compose config`
  k8s         generated manifests up to date, `kubectl kustomize` of base and overlays,
              kubernetes-validate (strict) of every core object, hardening/probes/HPA/PDB,
              placeholder-only Secrets, a NetworkPolicy per data store
  prometheus  promtool check config / check rules / test rules
  dashboards  JSON valid, every panel query parses (promtool), datasource provisioned
"""

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kernel.config import PROJECT_ROOT
from scripts import render_k8s, render_kong

# scripts.stack imports nameko, and eventlet announces its own deprecation on import.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

KONG_FILE = PROJECT_ROOT / "kong" / "kong.yml"
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
K8S = PROJECT_ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = ("base", "data", "overlays/local", "overlays/production")
PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus"
GRAFANA = PROJECT_ROOT / "deploy" / "grafana"
INFRASTRUCTURE = {
    "kong",
    "postgres",
    "redis",
    "rabbitmq",
    "mongodb",
    "clickhouse",
    "prometheus",
    "grafana",
}
NON_SECRET_KEYS = {"key", "algorithm"}  # Kong credential fields that are identifiers, not secrets
CRD_SKIP_REASON = (
    "custom resource: kubernetes-validate ships only core schemas and this machine has no network "
    "to fetch the CRD's; its required fields are checked by this script instead"
)
CRD_REQUIRED = {
    "KongPlugin": ("plugin",),
    "KongClusterPlugin": ("plugin",),
    "KongConsumer": ("username", "credentials"),
    "PodMonitor": ("spec.selector", "spec.podMetricsEndpoints"),
    "ServiceMonitor": ("spec.selector", "spec.endpoints"),
    "PrometheusRule": ("spec.groups",),
}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@dataclass
class Report:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    lines: list[str] = field(default_factory=list)

    def result(self, name: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        self._print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail else ""))

    def skip(self, name: str, reason: str) -> None:
        self.skipped += 1
        self._print(f"SKIP {name}: {reason}")

    def _print(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)


def run(command: list[str], **kwargs: Any) -> tuple[bool, str]:
    if shutil.which(command[0]) is None:
        return False, f"{command[0]} is not installed (bash scripts/provision.sh)"
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, **kwargs)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def last_lines(text: str, count: int = 6) -> str:
    return " | ".join(text.splitlines()[-count:])


# --- kong -----------------------------------------------------------------------------------


def check_kong(report: Report) -> None:
    ok, output = run(["deck", "validate", "--state", str(KONG_FILE)])
    report.result("kong: deck validate kong/kong.yml", ok, "" if ok else last_lines(output))
    with tempfile.TemporaryDirectory() as scratch:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        public = Path(scratch) / "public.pem"
        public.write_bytes(
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        config = {"JWT": {"ALGORITHM": "EdDSA", "PUBLIC_KEY_FILE": str(public), "KEY_ID": "ci"}}
        rendered = render_kong.render_declarative(
            yaml.safe_load(KONG_FILE.read_text()), render_kong.jwt_credential(config)
        )
        rendered_file = Path(scratch) / "kong.yml"
        rendered_file.write_text(yaml.safe_dump(rendered))
        ok, output = run(["deck", "validate", "--state", str(rendered_file)])
        report.result(
            "kong: deck validate with the rendered JWT credential",
            ok,
            "" if ok else last_lines(output),
        )


# --- process table shared by compose and k8s -------------------------------------------------


def class_defined(target: str) -> bool | None:
    """True/False whether `module:Class` exists in the repository; None if the module does not
    exist yet (a service another branch is still building)."""
    module, _, class_name = target.partition(":")
    path = PROJECT_ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        return None
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.ClassDef) and node.name == class_name for node in tree.body)


def module_defined(module: str) -> bool | None:
    path = PROJECT_ROOT / (module.replace(".", "/") + ".py")
    return True if path.exists() else None


def check_process_code(report: Report) -> None:
    from scripts.stack import default_processes

    deployed = {process.command[-1] for process in render_k8s.PROCESSES}
    local = {process.name: process.command[-1] for process in default_processes()}
    undeployed = sorted(
        f"{name} ({target})" for name, target in local.items() if target not in deployed
    )
    report.result(
        "every process `make run` starts is in the process table (deploy/processes.yml)",
        not undeployed,
        ", ".join(undeployed),
    )
    pending = []
    for process in render_k8s.PROCESSES:
        command = process.command
        exists = class_defined(command[-1]) if ":" in command[-1] else module_defined(command[-1])
        if exists is None:
            pending.append(f"{process.name} ({command[-1]})")
        else:
            report.result(f"process {process.name}: {command[-1]} exists", exists)
    if pending:
        report.skip(
            "process code", "not in this checkout yet, commands unverified: " + ", ".join(pending)
        )


# --- compose --------------------------------------------------------------------------------


def compose_command_check() -> tuple[list[str] | None, str]:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"], ""
    if shutil.which("docker-compose"):
        return ["docker-compose"], ""
    return None, "neither the docker compose plugin nor docker-compose is installed"


def check_compose(report: Report) -> None:
    try:
        compose = yaml.safe_load(COMPOSE_FILE.read_text())
    except yaml.YAMLError as exc:
        report.result("compose: YAML parses", False, str(exc))
        return
    report.result("compose: YAML parses", True)
    from scripts import render_compose

    report.result(
        "compose: docker-compose.yml matches scripts/render_compose.py",
        render_compose.main(["--check"]) == 0,
    )
    services: dict[str, Any] = compose["services"]

    missing = sorted(INFRASTRUCTURE - set(services))
    report.result("compose: every infrastructure service present", not missing, ", ".join(missing))

    for process in render_k8s.PROCESSES:
        entries = [
            name for name, spec in services.items() if spec.get("command") == process.command
        ]
        wanted = process.scaling.compose
        report.result(
            f"compose: {process.name} runs `{' '.join(process.command)}`"
            + (" in 2 replicas" if wanted > 1 else ""),
            len(entries) >= wanted,
            f"found in {entries or 'no service'}",
        )

    unpinned = [
        f"{name}={spec.get('image')}"
        for name, spec in services.items()
        if "build" not in spec and not re.search(r":[^:/]*\d[^:/]*$", str(spec.get("image", "")))
    ]
    latest = [
        name for name, spec in services.items() if str(spec.get("image", "")).endswith(":latest")
    ]
    report.result(
        "compose: every pulled image pinned to a version",
        not unpinned + latest,
        ", ".join(unpinned + latest),
    )

    long_running = {n: s for n, s in services.items() if s.get("restart") != "no"}
    no_health = sorted(n for n, s in long_running.items() if "healthcheck" not in s)
    report.result(
        "compose: every long-running service has a healthcheck", not no_health, ", ".join(no_health)
    )
    unconditional = sorted(
        f"{name}->{dependency}"
        for name, spec in services.items()
        for dependency, condition in (
            spec.get("depends_on", {}).items()
            if isinstance(spec.get("depends_on"), dict)
            else ((d, None) for d in spec.get("depends_on", []))
        )
        if not (isinstance(condition, dict) and "condition" in condition)
    )
    report.result(
        "compose: every depends_on waits on a condition",
        not unconditional,
        ", ".join(unconditional),
    )
    stateful = {"postgres", "redis", "rabbitmq", "mongodb", "clickhouse", "prometheus", "grafana"}
    no_volume = sorted(n for n in stateful & set(services) if not services[n].get("volumes"))
    report.result(
        "compose: data stores keep their data in volumes", not no_volume, ", ".join(no_volume)
    )

    kong = yaml.safe_load(KONG_FILE.read_text())
    kong_hosts = {t["target"].rsplit(":", 1)[0] for u in kong["upstreams"] for t in u["targets"]}
    kong_hosts |= {
        p["config"]["redis"]["host"]
        for entity in [*kong["services"], *kong["consumers"]]
        for p in entity.get("plugins", [])
        if p["name"] == "rate-limiting"
    }
    unknown = sorted(kong_hosts - set(services))
    report.result(
        "compose: every host kong.yml talks to is a compose service",
        not unknown,
        ", ".join(unknown),
    )

    command, reason = compose_command_check()
    if command is None:
        report.skip("compose: config", reason)
        return
    from scripts.compose_env import variables

    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:
        env_file.write("".join(f"{name}=ops-check\n" for name in variables()))
        env_file.flush()
        ok, output = run(
            [*command, "-f", str(COMPOSE_FILE), "--env-file", env_file.name, "config", "--quiet"]
        )
    report.result(
        f"compose: `{' '.join(command)} config` (no engine needed)",
        ok,
        "" if ok else last_lines(output),
    )


# --- kubernetes -----------------------------------------------------------------------------


def kustomize(path: str) -> tuple[list[dict[str, Any]] | None, str]:
    ok, output = run(["kubectl", "kustomize", str(K8S / path)])
    if not ok:
        return None, last_lines(output)
    return [doc for doc in yaml.safe_load_all(output) if doc], ""


def lookup(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def deployment_problems(deployment: dict[str, Any], names: dict[str, set[str]]) -> list[str]:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    problems = []
    if not lookup(pod, "securityContext.runAsNonRoot"):
        problems.append("pod not runAsNonRoot")
    if not pod.get("topologySpreadConstraints"):
        problems.append("no topologySpreadConstraints")
    for container in pod["containers"]:
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                problems.append(f"{container['name']} has no {probe}")
        if not lookup(container, "securityContext.readOnlyRootFilesystem"):
            problems.append(f"{container['name']} root filesystem writable")
        if lookup(container, "securityContext.allowPrivilegeEscalation") is not False:
            problems.append(f"{container['name']} may escalate privileges")
        if not lookup(container, "resources.requests") or not lookup(container, "resources.limits"):
            problems.append(f"{container['name']} lacks resource requests/limits")
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
        if name not in names.get(kind, set()):
            problems.append(f"no {kind}")
    return problems


def secret_problems(secret: dict[str, Any]) -> list[str]:
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    return [
        f"{secret['metadata']['name']}.{key}"
        for key, value in values.items()
        if key not in NON_SECRET_KEYS and "REPLACE_ME" not in str(value)
    ]


def check_k8s_objects(report: Report, label: str, documents: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    invalid, skipped_kinds = [], set()
    for document in documents:
        kind, name = document["kind"], document["metadata"]["name"]
        if kind in CRD_REQUIRED:
            skipped_kinds.add(kind)
            absent = [f for f in CRD_REQUIRED[kind] if lookup(document, f) in (None, [], {})]
            if absent:
                invalid.append(f"{kind}/{name}: missing {', '.join(absent)}")
            continue
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            invalid.append(f"{kind}/{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            invalid.append(f"{kind}/{name}: no schema for {document['apiVersion']}")
    core = len(documents) - sum(1 for d in documents if d["kind"] in CRD_REQUIRED)
    report.result(
        f"k8s {label}: kubernetes-validate --strict ({version}) of {core} core objects",
        not invalid,
        "; ".join(invalid[:8]),
    )
    if skipped_kinds:
        report.skip(f"k8s {label}: schema of {', '.join(sorted(skipped_kinds))}", CRD_SKIP_REASON)


def check_k8s(report: Report) -> None:
    ok = render_k8s.main(["--check"]) == 0
    report.result("k8s: generated manifests match scripts/render_k8s.py", ok)
    rendered: dict[str, list[dict[str, Any]]] = {}
    for path in KUSTOMIZATIONS:
        documents, error = kustomize(path)
        report.result(f"k8s: kubectl kustomize deploy/k8s/{path}", documents is not None, error)
        if documents is not None:
            rendered[path] = documents
    for path in ("overlays/local", "overlays/production"):
        if path in rendered:
            check_k8s_objects(report, path, rendered[path])
    if "overlays/local" not in rendered:
        return
    documents = rendered["overlays/local"]
    names: dict[str, set[str]] = {}
    for document in documents:
        names.setdefault(document["kind"], set()).add(document["metadata"]["name"])
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        problems = deployment_problems(deployment, names)
        report.result(
            f"k8s: Deployment {deployment['metadata']['name']} hardened, probed, scaled",
            not problems,
            "; ".join(problems),
        )
    expected = {process.name for process in render_k8s.PROCESSES}
    report.result(
        "k8s: a Deployment per process",
        expected <= names.get("Deployment", set()),
        ", ".join(sorted(expected - names.get("Deployment", set()))),
    )
    leaked = [p for d in documents if d["kind"] == "Secret" for p in secret_problems(d)]
    report.result("k8s: Secrets hold placeholders only", not leaked, ", ".join(leaked))
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    unguarded = [
        store["metadata"]["name"]
        for store in documents
        if store["kind"] == "StatefulSet"
        and not any(
            lookup(p, "spec.podSelector.matchLabels")
            == {"app.kubernetes.io/name": store["metadata"]["name"]}
            for p in policies
        )
    ]
    report.result(
        "k8s: every data store has its own NetworkPolicy", not unguarded, ", ".join(unguarded)
    )


# --- prometheus -----------------------------------------------------------------------------


def check_prometheus(report: Report) -> None:
    for config in sorted(PROMETHEUS.glob("prometheus.*.yml")):
        ok, output = run(["promtool", "check", "config", "--syntax-only", str(config)])
        report.result(
            f"prometheus: promtool check config {config.name}", ok, "" if ok else last_lines(output)
        )
    jobs = {process.name.replace("-", "_") for process in render_k8s.PROCESSES}
    for config in sorted(PROMETHEUS.glob("prometheus.*.yml")):
        scraped = {job["job_name"] for job in yaml.safe_load(config.read_text())["scrape_configs"]}
        missing = sorted(jobs - scraped)
        report.result(
            f"prometheus: {config.name} scrapes every process", not missing, ", ".join(missing)
        )
    rules = sorted(str(p) for p in (PROMETHEUS / "rules").glob("*.yml"))
    ok, output = run(["promtool", "check", "rules", *rules])
    report.result(
        f"prometheus: promtool check rules ({len(rules)} files)",
        ok,
        last_lines(output, 2) if ok else last_lines(output),
    )
    tests = sorted(str(p) for p in (PROMETHEUS / "tests").glob("*.test.yml"))
    ok, output = run(["promtool", "test", "rules", *tests])
    report.result(
        f"prometheus: promtool test rules ({len(tests)} files)",
        ok,
        "" if ok else last_lines(output, 20),
    )


# --- dashboards -----------------------------------------------------------------------------


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, rows included."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel.get("title", "?"), target["expr"]


def concrete(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def check_dashboards(report: Report) -> None:
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    report.result("dashboards: at least one dashboard", bool(files))
    queries: list[tuple[str, str, str]] = []
    for path in files:
        try:
            dashboard = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            report.result(f"dashboards: {path.name} is JSON", False, str(exc))
            continue
        found = list(dashboard_queries(dashboard))
        report.result(f"dashboards: {path.name} has queries", bool(found), f"{len(found)} queries")
        queries += [(path.name, title, expr) for title, expr in found]
    with tempfile.TemporaryDirectory() as scratch:
        rules = {
            "groups": [
                {
                    "name": "dashboard-queries",
                    "rules": [
                        {"record": f"dashboard:query_{i}", "expr": concrete(expr)}
                        for i, (_, _, expr) in enumerate(queries)
                    ],
                }
            ]
        }
        rule_file = Path(scratch) / "queries.yml"
        rule_file.write_text(yaml.safe_dump(rules))
        ok, output = run(["promtool", "check", "rules", str(rule_file)])
    report.result(
        f"dashboards: all {len(queries)} panel queries parse (promtool)",
        ok,
        "" if ok else last_lines(output, 10),
    )
    provisioning = list((GRAFANA / "provisioning").rglob("*.yml"))
    report.result(
        "dashboards: Grafana datasource and dashboard providers provisioned",
        len(provisioning) >= 2,
        ", ".join(p.name for p in provisioning),
    )


SECTIONS: dict[str, Callable[[Report], None]] = {
    "kong": check_kong,
    "compose": check_compose,
    "process-code": check_process_code,
    "k8s": check_k8s,
    "prometheus": check_prometheus,
    "dashboards": check_dashboards,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], default=[])
    args = parser.parse_args(argv)
    report = Report()
    for name in args.sections or list(SECTIONS):
        SECTIONS[name](report)
    print(f"ops-check: {report.passed} passed, {report.failed} failed, {report.skipped} skipped")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
