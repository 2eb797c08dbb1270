"""PostgreSQL behind PgBouncer as rendered (scripts/render_pgbouncer.py), with Debian's pgbouncer
on this machine: a service's workers commit through the transaction pool while its outbox relay
listens on PostgreSQL itself, and why the relay must: a LISTEN through the pool hears nothing."""

import os
import select
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dependencies.outbox import OutboxRelay, record_event
from dependencies.postgres import Database
from scripts import render_pgbouncer
from scripts.processes import process
from services.auth.models import outbox
from tests.conftest import TEST_DATABASE_URL, wait_until
from tests.sample_events import revoked

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pgbouncer") is None, reason="apt-get install pgbouncer"),
]
PASSWORD = "pooled-secret"
RELAYED: list[dict[str, Any]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[str]:
    """PgBouncer with the rendered ini in front of the test database; yields the auth pool's
    URL (the PgBouncer database of a process kind, as DATABASE_POOL_URL names it)."""
    target = make_url(TEST_DATABASE_URL)
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    directory.chmod(0o755)  # readable by the unprivileged user it runs as under root
    auth_file = directory / "userlist.txt"
    auth_file.write_text(render_pgbouncer.userlist(PASSWORD, target.username or "postgres"))
    config = directory / "pgbouncer.ini"
    config.write_text(
        render_pgbouncer.ini(
            server_host=target.host or "127.0.0.1",
            server_port=target.port or 5432,
            database=target.database or "",
            listen_port=port,
            auth_file=str(auth_file),
        )
    )
    command = ["pgbouncer", str(config)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        auth_file.chmod(0o644)
        command[1:1] = ["-u", "nobody"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: accepts(port) or server.poll() is not None, timeout=10)
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        pool = render_pgbouncer.pool_name(process("auth"))
        yield f"postgresql://{target.username}:{PASSWORD}@127.0.0.1:{port}/{pool}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory)


class PooledProbe:
    name = "pooled_probe"
    db = Database()
    relay = OutboxRelay(outbox)

    @rpc
    def write(self, marker: str) -> int:
        record_event(self.db, outbox, "session_revoked", revoked(marker))
        return self.db.execute(text("SELECT inet_server_port()")).scalar_one()


class ProbeListener:
    name = "pooled_probe_listener"

    @event_handler("pooled_probe", "session_revoked")
    def on_probed(self, payload: dict[str, Any]) -> None:
        RELAYED.append(payload)


def test_workers_commit_through_the_pool_and_the_relay_publishes(
    pgbouncer, container_factory, service_config, db_engine
):
    RELAYED.clear()
    config = {**service_config, "DATABASE_POOL_URL": pgbouncer, "DB_MAX_OVERFLOW": 0}
    config["DB_POOL_SIZE"] = process("auth").db_pool
    container_factory(ProbeListener, config).start()
    probe = container_factory(PooledProbe, config)
    probe.start()
    database = next(d for d in probe.dependencies if isinstance(d, Database))
    relay = next(d for d in probe.dependencies if isinstance(d, OutboxRelay))
    assert database.engine.url.port == make_url(pgbouncer).port
    assert relay.engine.url.port == make_url(TEST_DATABASE_URL).port
    markers = [str(uuid.uuid4()) for _ in range(5)]
    with ServiceRpcProxy("pooled_probe", config) as proxy:
        for marker in markers:
            assert proxy.write(marker) == (make_url(TEST_DATABASE_URL).port or 5432)
    wait_until(lambda: {event["reason"] for event in RELAYED} >= set(markers))


def notified(connection: Any, timeout: float) -> bool:
    if select.select([connection], [], [], timeout)[0]:
        connection.poll()
    return bool(connection.notifies)


def test_a_listen_through_the_transaction_pool_hears_nothing(pgbouncer):
    target = make_url(TEST_DATABASE_URL)
    direct_kwargs = {
        "host": target.host,
        "port": target.port,
        "user": target.username,
        "dbname": target.database,
    }
    pooled = psycopg2.connect(pgbouncer)
    direct = psycopg2.connect(**direct_kwargs)
    sender = psycopg2.connect(**direct_kwargs)
    try:
        for connection in (pooled, direct, sender):
            connection.autocommit = True
        for listener in (pooled, direct):
            listener.cursor().execute("LISTEN pgbouncer_probe")
        sender.cursor().execute("NOTIFY pgbouncer_probe")
        assert wait_until(lambda: notified(direct, 0.1), timeout=5)
        # the pooled LISTEN went back to the pool with its server connection
        assert not notified(pooled, 1.0)
    finally:
        for connection in (pooled, direct, sender):
            connection.close()
