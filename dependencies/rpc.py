"""RPC proxy with a deadline. Nameko 2's RpcProxy waits forever for a reply; at the edge a caller
must get an answer. The request message expires with the deadline, so a service that comes back
later does not act on a request whose caller has already been told it failed."""

from collections.abc import Callable
from typing import Any

import eventlet
from nameko.containers import WorkerContext
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from services.common.errors import ServiceUnavailable


class DeadlineServiceProxy:
    def __init__(self, proxy: Any, service_name: str, timeout: float) -> None:
        self._proxy = proxy
        self._service_name = service_name
        self._timeout = timeout

    def __getattr__(self, method_name: str) -> Callable[..., Any]:
        method = getattr(self._proxy, method_name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                with eventlet.Timeout(self._timeout):
                    return method(*args, **kwargs)
            except eventlet.Timeout:
                raise ServiceUnavailable(
                    f"{self._service_name} did not answer within {self._timeout:g}s"
                ) from None
            except UnknownService:
                raise ServiceUnavailable(f"{self._service_name} is not running") from None

        return call


class DeadlineRpcProxy(RpcProxy):
    def __init__(self, target_service: str, timeout_seconds: float | None = None) -> None:
        super().__init__(target_service)
        self.timeout_seconds = timeout_seconds

    def setup(self) -> None:
        if self.timeout_seconds is None:
            self.timeout_seconds = float(self.container.config["GATEWAY"]["RPC_TIMEOUT_SECONDS"])
        self.options["expiration"] = self.timeout_seconds
        super().setup()

    def get_dependency(self, worker_ctx: WorkerContext) -> DeadlineServiceProxy:
        assert self.timeout_seconds is not None
        return DeadlineServiceProxy(
            super().get_dependency(worker_ctx), self.target_service, self.timeout_seconds
        )
