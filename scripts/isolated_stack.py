"""An isolated environment for running the stack next to others on one machine: its own
RabbitMQ vhost, database, Redis db and free ports. Used by benchmarks and `make dashboards-check`
(the e2e tests have the same pieces as fixtures)."""

import os
import random
import socket

import requests

from scripts import migrate

RABBIT_API = os.environ.get("RABBIT_API", "http://guest:guest@127.0.0.1:15672/api")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_metrics_base(processes: int = 9, avoid: tuple[int, ...] = ()) -> int:
    """A METRICS_BASE_PORT whose base+1 .. base+processes are all free (and not in `avoid`):
    two separate free_port() calls can return neighbours, so base+1 may be the gateway's port."""
    chooser = random.SystemRandom()
    for _ in range(200):
        base = chooser.randrange(20000, 60000)
        ports = range(base + 1, base + processes + 1)
        if not set(ports) & set(avoid) and all(port_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free block of metrics ports")


def fresh_vhost(name: str) -> str:
    """Recreate the vhost empty and return its AMQP URI."""
    requests.delete(f"{RABBIT_API}/vhosts/{name}", timeout=10)
    requests.put(f"{RABBIT_API}/vhosts/{name}", timeout=10).raise_for_status()
    requests.put(
        f"{RABBIT_API}/permissions/{name}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        timeout=10,
    ).raise_for_status()
    return f"pyamqp://guest:guest@127.0.0.1:5672/{name}"


def delete_vhost(name: str) -> None:
    requests.delete(f"{RABBIT_API}/vhosts/{name}", timeout=10)


def migrate_database(url: str, clickhouse_url: str | None = None) -> None:
    """Migrate PostgreSQL `url` and (when given) the ClickHouse database at `clickhouse_url`."""
    overrides = {"DATABASE_URL": url}
    if clickhouse_url is not None:
        overrides["CLICKHOUSE_URL"] = clickhouse_url
    previous = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        migrate.main()
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
