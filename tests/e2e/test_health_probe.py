"""scripts.health_rpc, the operator's check that some instance of a service answers."""

import subprocess
import sys

from kernel.config import PROJECT_ROOT


def probe(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.health_rpc", service, "--timeout", "3"],
        cwd=PROJECT_ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_probe_passes_when_the_service_answers(running_stack):
    done = probe("auth", running_stack.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "auth: ok"


def test_probe_fails_when_no_instance_answers(running_stack):
    done = probe("nosuchservice", running_stack.env)
    assert done.returncode == 1
    assert "nosuchservice: unhealthy" in done.stderr
