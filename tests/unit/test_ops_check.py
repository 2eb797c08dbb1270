"""The policy checks `make ops-check` applies to the rendered manifests."""

import copy

from scripts import render_k8s
from scripts.ops_check import class_defined, concrete, deployment_problems, secret_problems

AUTH = next(p for p in render_k8s.PROCESSES if p.name == "auth")
NAMES = {"HorizontalPodAutoscaler": {"auth"}, "PodDisruptionBudget": {"auth"}}


def test_rendered_deployments_pass_the_policy():
    for process in render_k8s.PROCESSES:
        names = {kind: {process.name} for kind in NAMES}
        assert deployment_problems(render_k8s.deployment(process), names) == []


def test_policy_flags_missing_probe_writable_root_and_missing_autoscaler():
    deployment = copy.deepcopy(render_k8s.deployment(AUTH))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    container["securityContext"]["readOnlyRootFilesystem"] = False

    problems = deployment_problems(deployment, {"PodDisruptionBudget": {"auth"}})

    assert problems == [
        "auth has no readinessProbe",
        "auth root filesystem writable",
        "no HorizontalPodAutoscaler",
    ]


def test_secrets_may_only_hold_placeholders():
    placeholder = {
        "metadata": {"name": "s"},
        "stringData": {"URL": "postgresql://u:REPLACE_ME@h/db"},
    }
    credential = {"metadata": {"name": "c"}, "stringData": {"key": "prod-1", "algorithm": "EdDSA"}}
    leaked = {"metadata": {"name": "s"}, "stringData": {"PASSWORD": "hunter2hunter2"}}

    assert secret_problems(placeholder) == []
    assert secret_problems(credential) == []
    assert secret_problems(leaked) == ["s.PASSWORD"]


def test_process_commands_are_checked_against_the_code():
    assert class_defined("services.auth.service:AuthService") is True
    assert class_defined("services.auth.service:AuthServize") is False
    assert class_defined("services.nosuch.service:NoSuchService") is None


def test_grafana_variables_become_parseable_promql():
    expr = 'sum by (route) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))'
    assert concrete(expr) == 'sum by (route) (rate(http_requests_total{job=~".*"}[5m]))'


def test_dashboards_check_knows_who_exports_each_panels_metrics():
    from scripts.dashboards_check import exporter_of

    assert exporter_of("sum(rate(kong_http_requests_total[5m]))") == "kong"
    assert exporter_of("sum(ws_connections)") == "ws"
    assert exporter_of("sum(increase(campaign_status_changes_total[1h]))") == "campaigns"
    assert exporter_of("sum(increase(application_status_changes_total[1h]))") == "applications"
    assert exporter_of("sum(rate(http_requests_total[5m]))") == "gateway_http"
    assert exporter_of("sum(increase(users_registered_total[1h]))") == "auth"
