"""RPC from the ws process to messaging: a pool of standalone cluster proxies, each used by one
greenthread at a time (a standalone proxy is not safe to share), with a deadline per call. Each
call relays the socket's access token in the context data (`auth_token`): messaging verifies it
and acts for that user only.

Requests are transient, like the gateway's (docs/decisions.md, "Gateway RPCs are transient"):
neither written to disk by the broker nor confirmed to the publisher, and they expire with the
deadline. Losing one (a broker crash mid-request) fails only that frame, with `unavailable`; the
client re-sends with the same client_msg_id, which messaging answers once."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventlet import pools
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.rpc import ServiceProxy
from nameko.standalone.rpc import ClusterProxy, ClusterRpcProxy

from dependencies.rpc import TRANSIENT_DELIVERY_MODE
from kernel.errors import ServiceUnavailable


class TransientClusterProxy(ClusterProxy):
    """nameko's cluster proxy whose requests are transient, unconfirmed and expire."""

    def __init__(self, worker_ctx: Any, reply_listener: Any, expiration: float) -> None:
        super().__init__(worker_ctx, reply_listener)
        self._options = {
            "delivery_mode": TRANSIENT_DELIVERY_MODE,
            "use_confirms": False,
            "expiration": expiration,
        }

    def __getattr__(self, name: str) -> ServiceProxy:
        if name not in self._proxies:
            self._proxies[name] = ServiceProxy(
                self._worker_ctx, name, self._reply_listener, **self._options
            )
        return self._proxies[name]


class TransientClusterRpcProxy(ClusterRpcProxy):
    def __init__(
        self, config: dict[str, Any], context_data: dict[str, Any], timeout: float
    ) -> None:
        super().__init__(config, context_data=context_data, timeout=timeout)
        self._proxy = TransientClusterProxy(self._worker_ctx, self._reply_listener, timeout)


class RpcPool:
    def __init__(self, config: dict[str, Any], size: int, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._proxies: list[TransientClusterRpcProxy] = []
        self._pool: pools.Pool = pools.Pool(max_size=size, create=self._create)

    def _create(self) -> tuple[Any, dict[str, Any]]:
        context_data: dict[str, Any] = {}
        proxy = TransientClusterRpcProxy(self._config, context_data, self._timeout)
        self._proxies.append(proxy)
        # The proxy's worker context keeps this very dict: what is in it at call time is sent.
        return proxy.start(), context_data

    @contextmanager
    def _cluster(self, access_token: str) -> Iterator[Any]:
        with self._pool.item() as (cluster, context_data):
            context_data[AUTH_TOKEN_CONTEXT_KEY] = access_token
            try:
                yield cluster
            finally:
                context_data.pop(AUTH_TOKEN_CONTEXT_KEY, None)

    def call(self, access_token: str, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """`method` of `service` acting for the owner of `access_token`."""
        try:
            with self._cluster(access_token) as cluster:
                return getattr(getattr(cluster, service), method)(*args, **kwargs)
        except RpcTimeout:
            raise ServiceUnavailable(
                f"{service} did not answer within {self._timeout:g}s"
            ) from None
        except UnknownService:
            raise ServiceUnavailable(f"{service} is not running") from None

    def stop(self) -> None:
        for proxy in self._proxies:
            proxy.stop()
