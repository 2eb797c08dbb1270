"""ClickHouse for Nameko services: a small pool of clickhouse-driver clients (native protocol).

A clickhouse-driver Client holds one connection and must not run two queries at once, so each
worker borrows its own client from the pool and gives it back when the worker ends. CLICKHOUSE_URL
is `clickhouse://user[:password]@host:port/database`, or `clickhouses://...` for TLS (the native
secure port, 9440 by default; the server certificate is verified). With CLICKHOUSE_CLUSTER set,
the tables are Distributed (services/analytics/clickhouse_schema.py) and inserts are synchronous:
an insert returns once every shard has its rows, as on a single server.
"""

from typing import Any
from urllib.parse import urlsplit

import eventlet.queue
from clickhouse_driver import Client
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

CONNECT_TIMEOUT_SECONDS = 5
QUERY_TIMEOUT_SECONDS = 60


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "default"


def cluster_settings(cluster: str | None) -> dict[str, Any]:
    """Query settings for the cluster layout. A Distributed insert otherwise returns before its
    rows reach the shards: the duplicate check of a redelivered batch and a report read right
    after a stored batch would not see them yet."""
    return {"insert_distributed_sync": 1} if cluster else {}


def make_client(
    url: str, database: str | None = None, settings: dict[str, Any] | None = None
) -> Client:
    """A client for `url`; `database` overrides the URL's (e.g. "default" to create it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(
            f"CLICKHOUSE_URL must start with clickhouse:// or clickhouses://, got {parts.scheme}://"
        )
    secure = parts.scheme == "clickhouses"
    return Client(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (9440 if secure else 9000),
        secure=secure,
        verify=True,
        user=parts.username or "default",
        password=parts.password or "",
        database=database or database_of(url),
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        send_receive_timeout=QUERY_TIMEOUT_SECONDS,
        settings=settings or {},
    )


class ClientPool:
    def __init__(self, url: str, size: int, settings: dict[str, Any] | None = None) -> None:
        self.url = url
        self.size = size
        self.settings = settings or {}
        self.idle: eventlet.queue.LifoQueue = eventlet.queue.LifoQueue()
        self.created = 0

    def acquire(self) -> Client:
        if self.idle.empty() and self.created < self.size:
            self.created += 1
            return make_client(self.url, settings=self.settings)
        return self.idle.get()

    def release(self, client: Client) -> None:
        self.idle.put(client)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get().disconnect()


class ClickHouse(DependencyProvider):
    """`self.clickhouse` in a worker: a clickhouse-driver Client of its own for the call."""

    def __init__(self, pool_size: int = 4) -> None:
        self.pool_size = pool_size
        self.pool: ClientPool | None = None
        self.borrowed: dict[WorkerContext, Client] = {}

    def setup(self) -> None:
        config = self.container.config
        self.pool = ClientPool(
            config["CLICKHOUSE_URL"],
            self.pool_size,
            cluster_settings(config.get("CLICKHOUSE_CLUSTER") or None),
        )

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def get_dependency(self, worker_ctx: WorkerContext) -> Client:
        assert self.pool is not None
        client = self.pool.acquire()
        self.borrowed[worker_ctx] = client
        return client

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        client = self.borrowed.pop(worker_ctx, None)
        if client is not None and self.pool is not None:
            self.pool.release(client)


def ping(client: Any) -> None:
    client.execute("SELECT 1")
