"""RPC from the ws process to messaging: a pool of standalone cluster proxies, each used by one
greenthread at a time (a standalone proxy is not safe to share), with a deadline per call. Each
call relays the socket's access token in the context data (`auth_token`): messaging verifies it
and acts for that user only."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventlet import pools
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from kernel.errors import ServiceUnavailable


class RpcPool:
    def __init__(self, config: dict[str, Any], size: int, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._proxies: list[ClusterRpcProxy] = []
        self._pool: pools.Pool = pools.Pool(max_size=size, create=self._create)

    def _create(self) -> tuple[Any, dict[str, Any]]:
        context_data: dict[str, Any] = {}
        proxy = ClusterRpcProxy(self._config, context_data=context_data, timeout=self._timeout)
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
