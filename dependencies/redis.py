"""Redis for Nameko services and the gateway: one shared, pooled client per container."""

from typing import Any

import redis
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider


def make_redis(config: dict[str, Any]) -> redis.Redis:
    return redis.Redis.from_url(
        config["REDIS_URL"],
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


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
