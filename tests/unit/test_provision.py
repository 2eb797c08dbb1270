"""scripts/provision.sh on a fresh Debian: what it installs when PostgreSQL, Redis and RabbitMQ
are absent (PROVISION_DRY_RUN lists the packages instead of calling apt-get)."""

import os
import shutil
import subprocess
from pathlib import Path

from kernel.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "provision.sh"


def dry_run(path: str, *args: str) -> list[str]:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**os.environ, "PATH": path, "PROVISION_DRY_RUN": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def bare_path(tmp_path: Path) -> str:
    """A PATH with only what a fresh Debian has: no database tools."""
    for tool in ("bash", "sort", "python3", "dirname"):
        (tmp_path / tool).symlink_to(shutil.which(tool))
    return str(tmp_path)


def test_fresh_machine_gets_the_stores_from_debian(tmp_path):
    packages = dry_run(bare_path(tmp_path))
    assert {"postgresql", "postgresql-client", "redis-server", "redis-tools"} <= set(packages)
    assert {"rabbitmq-server", "curl", "util-linux"} <= set(packages)


def test_machine_with_the_stores_installs_nothing():
    assert dry_run(os.environ["PATH"]) == []


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
