"""An isolated environment for running the stack next to others on one machine: its own
RabbitMQ vhost, database, Redis db, ClickHouse database and free ports. `isolated_stack` is the
one harness the benchmarks, `make dashboards-check` and `make fuzz` start the stack with (the e2e
tests have the same pieces as fixtures)."""

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts import migrate
from scripts.stack import Process, Stack, default_processes, free_port

# Limits a harness lifts: a run from one address measures or fuzzes the code, not the limiter.
NO_EDGE_LIMITS = {
    "RATE_LIMIT_PER_IP": "100000000/minute",
    "RATE_LIMIT_PER_SUBJECT": "100000000/minute",
    "LOGIN_FAILURES_PER_IP": "100000000/minute",
    "REGISTRATIONS_PER_IP": "100000000/minute",
}


@dataclass(frozen=True)
class Scratch:
    """The stores a run owns: `<PREFIX>_DATABASE_URL`, `_REDIS_URL`, `_CLICKHOUSE_URL` and `_VHOST`
    from the environment, else `influencer_<name>` / `analytics_<name>` on the local servers."""

    database_url: str
    redis_url: str
    clickhouse_url: str
    vhost: str

    @classmethod
    def from_env(cls, prefix: str, name: str, redis_db: int) -> "Scratch":
        return cls(
            database_url=os.environ.get(
                f"{prefix}_DATABASE_URL", f"postgresql://postgres@127.0.0.1:5432/influencer_{name}"
            ),
            redis_url=os.environ.get(f"{prefix}_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
            clickhouse_url=os.environ.get(
                f"{prefix}_CLICKHOUSE_URL",
                f"clickhouse://default@127.0.0.1:9000/analytics_{name}",
            ),
            vhost=os.environ.get(f"{prefix}_VHOST", f"influencer_{name}"),
        )


@dataclass
class RunningStack:
    stack: Stack
    gateway_port: int
    env: dict[str, str]
    workdir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @contextmanager
    def beside(
        self, processes: list[Process], env: dict[str, str] | None = None
    ) -> Iterator[Stack]:
        """More processes (a floor, a second gateway) on the same stores while the stack runs."""
        stack = type(self.stack)(processes, env={**self.env, **(env or {})}, echo=False)
        try:
            stack.start()
            stack.wait_ready(timeout=60)
            yield stack
        except Exception:
            sys.stderr.write(stack.tail())
            raise
        finally:
            stack.stop()


@contextmanager
def isolated_stack(
    scratch: Scratch,
    env: dict[str, str] | None = None,
    *,
    choose: Callable[[list[Process]], list[Process]] = lambda processes: processes,
    gateway_port: int | None = None,
    other_ports: tuple[int, ...] = (),
    stack_class: type[Stack] = Stack,
    migrate_stores: bool = True,
    ready_timeout: float = 120,
) -> Iterator[RunningStack]:
    """The stack (`default_processes`, narrowed or extended by `choose`) on `scratch`'s stores:
    a fresh vhost, migrated databases, an embedded message store in a scratch folder and free
    ports (none of `other_ports`, the caller's own). Stopped and cleaned up on exit; on an error
    the processes' last output goes to stderr."""
    gateway_port = gateway_port or free_port()
    metrics_base = free_metrics_base(avoid=(gateway_port, *other_ports))
    workdir = Path(tempfile.mkdtemp(prefix="isolated-stack-"))
    full_env = {
        "AMQP_URI": fresh_vhost(scratch.vhost),
        "DATABASE_URL": scratch.database_url,
        "REDIS_URL": scratch.redis_url,
        "CLICKHOUSE_URL": scratch.clickhouse_url,
        "MONGO_URL": f"embedded://{workdir / 'mongo'}",
        **(env or {}),
    }
    stack = stack_class(
        choose(default_processes(gateway_port, metrics_base)), env=full_env, echo=False
    )
    try:
        if migrate_stores:
            migrate_database(scratch.database_url, scratch.clickhouse_url)
        stack.start()
        stack.wait_ready(timeout=ready_timeout)
        yield RunningStack(stack, gateway_port, full_env, workdir)
    except Exception:
        sys.stderr.write(stack.tail())
        raise
    finally:
        stack.stop()
        delete_vhost(scratch.vhost)
        shutil.rmtree(workdir, ignore_errors=True)


RABBIT_API = os.environ.get("RABBIT_API", "http://guest:guest@127.0.0.1:15672/api")


def free_metrics_base(processes: int = 9, avoid: tuple[int, ...] = ()) -> int:
    """A METRICS_BASE_PORT whose base+1 .. base+processes are all free (and not in `avoid`, nor
    handed out before by free_port)."""
    while True:
        base = free_port(block=processes + 1)
        if not set(range(base, base + processes + 1)) & set(avoid):
            return base


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
