"""RPC proxy with a deadline. Nameko 2's RpcProxy waits forever for a reply; at the edge a caller
must get an answer. The request message expires with the deadline, so a service that comes back
later does not act on a request whose caller has already been told it failed."""

from collections.abc import Callable
from typing import Any

import eventlet
from nameko.containers import WorkerContext
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from kernel.errors import ServiceUnavailable

TRANSIENT_DELIVERY_MODE = 1  # AMQP: not persisted by the broker


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
    """`timeout_seconds` None: the gateway's RPC settings (GATEWAY.RPC_TIMEOUT_SECONDS and
    GATEWAY.RPC_TRANSIENT). Transient requests are neither written to disk by the broker nor
    confirmed to the publisher: losing one (a broker crash mid-request, an unknown service) only
    fails that request, after its deadline, which the caller would have to retry anyway."""

    def __init__(
        self, target_service: str, timeout_seconds: float | None = None, transient: bool = False
    ) -> None:
        super().__init__(target_service)
        self.timeout_seconds = timeout_seconds
        self.transient = transient

    def setup(self) -> None:
        if self.timeout_seconds is None:
            gateway = self.container.config["GATEWAY"]
            self.timeout_seconds = float(gateway["RPC_TIMEOUT_SECONDS"])
            self.transient = str(gateway.get("RPC_TRANSIENT", False)).lower() in ("1", "true")
        self.options["expiration"] = self.timeout_seconds
        if self.transient:
            self.options["delivery_mode"] = TRANSIENT_DELIVERY_MODE
            self.options["use_confirms"] = False
        super().setup()

    def get_dependency(self, worker_ctx: WorkerContext) -> DeadlineServiceProxy:
        assert self.timeout_seconds is not None
        return DeadlineServiceProxy(
            super().get_dependency(worker_ctx), self.target_service, self.timeout_seconds
        )
