"""Redis-backed rate limiter as a dependency (one limiter per container and namespace)."""

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

from services.common.ratelimit import RateLimiter


class RateLimits(DependencyProvider):
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.limiter: RateLimiter | None = None

    def setup(self) -> None:
        self.limiter = RateLimiter(self.container.config["REDIS_URL"], self.namespace)

    def get_dependency(self, worker_ctx: WorkerContext) -> RateLimiter:
        assert self.limiter is not None
        return self.limiter
