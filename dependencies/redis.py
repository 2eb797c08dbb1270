"""Redis for Nameko services and the gateway: one shared, pooled client per container."""

from typing import Any

import redis
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
}


def make_redis(config: dict[str, Any], max_connections: int | None = None) -> redis.Redis:
    """With `max_connections`, callers beyond it wait (up to 10 s) for a free connection instead
    of opening one each: thousands of greenthreads must not exhaust a shared Redis."""
    if max_connections is None:
        return redis.Redis.from_url(config["REDIS_URL"], **CLIENT_OPTIONS)
    pool = redis.BlockingConnectionPool.from_url(
        config["REDIS_URL"], max_connections=max_connections, timeout=10, **CLIENT_OPTIONS
    )
    return redis.Redis(connection_pool=pool)


class Redis(DependencyProvider):
    def __init__(self) -> None:
        self.client: redis.Redis | None = None

    def setup(self) -> None:
        self.client = make_redis(self.container.config)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()

    def get_dependency(self, worker_ctx: WorkerContext) -> redis.Redis:
        assert self.client is not None
        return self.client
