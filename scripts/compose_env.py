"""Write .env for docker-compose (git-ignored): a generated password for PostgreSQL, Grafana's
admin and each process kind's RabbitMQ account. Existing values are kept, so running it again
never locks a running stack out of its own volumes.

  python -m scripts.compose_env            (make compose-env)
"""

import secrets
import sys
from pathlib import Path

from kernel.config import PROJECT_ROOT
from scripts.processes import PROCESSES
from scripts.render_rabbitmq import password_variable

ENV_FILE = PROJECT_ROOT / ".env"


def variables() -> list[str]:
    broker = [password_variable(p) for p in PROCESSES if "rabbitmq" in p.stores]
    return ["POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", *broker]


def write_env(path: Path = ENV_FILE) -> list[str]:
    """Add the missing variables to `path`; return their names."""
    existing = path.read_text() if path.exists() else ""
    present = {line.split("=", 1)[0] for line in existing.splitlines() if "=" in line}
    missing = [name for name in variables() if name not in present]
    lines = [f"{name}={secrets.token_urlsafe(24)}" for name in missing]
    if lines:
        prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
        path.write_text(prefix + "\n".join(lines) + "\n")
        path.chmod(0o600)
    return missing


def main() -> int:
    added = write_env()
    print(f"{ENV_FILE}: {', '.join(added) if added else 'nothing to add'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
