"""RPC from the ws process to messaging: a pool of standalone cluster proxies, each used by one
greenthread at a time (a standalone proxy is not safe to share), with a deadline per call."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventlet import pools
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.errors import ServiceUnavailable


class RpcPool:
    def __init__(self, config: dict[str, Any], size: int, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._proxies: list[ClusterRpcProxy] = []
        self._pool: pools.Pool = pools.Pool(max_size=size, create=self._create)

    def _create(self) -> Any:
        proxy = ClusterRpcProxy(self._config, timeout=self._timeout)
        self._proxies.append(proxy)
        return proxy.start()

    @contextmanager
    def _cluster(self) -> Iterator[Any]:
        with self._pool.item() as cluster:
            yield cluster

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._cluster() as cluster:
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
