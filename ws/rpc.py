"""RPC from the ws process to messaging: a pool of standalone cluster proxies, each used by one
greenthread at a time (a standalone proxy is not safe to share), with a deadline per call. Each
call relays the socket's access token in the context data (`auth_token`): messaging verifies it
and acts for that user only.

Requests are transient, like the gateway's (docs/decisions.md, "Gateway RPCs are transient"):
neither written to disk by the broker nor confirmed to the publisher, and they expire with the
deadline. Losing one (a broker crash mid-request) fails only that frame, with `unavailable`; the
client re-sends with the same client_msg_id, which messaging answers once."""

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
from eventlet import pools
from eventlet.event import Event
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.exceptions import RpcTimeout, UnknownService, deserialize
from nameko.rpc import ServiceProxy
from nameko.standalone.rpc import ClusterProxy, ClusterRpcProxy

from dependencies.rpc import TRANSIENT_DELIVERY_MODE
from kernel.errors import ServiceUnavailable
from services.messaging.schemas import MAX_SEND_BATCH


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
    def _cluster(self, access_token: str | None) -> Iterator[Any]:
        with self._pool.item() as (cluster, context_data):
            if access_token is not None:
                context_data[AUTH_TOKEN_CONTEXT_KEY] = access_token
            try:
                yield cluster
            finally:
                context_data.pop(AUTH_TOKEN_CONTEXT_KEY, None)

    def call(
        self, access_token: str | None, service: str, method: str, *args: Any, **kwargs: Any
    ) -> Any:
        """`method` of `service` acting for the owner of `access_token` (None: a call whose
        arguments carry each user's token, like messaging.send_messages)."""
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


class SendBatcher:
    """Every socket's sends to messaging, in as few calls as the load makes: while calls are
    out (at most `calls_in_flight`), new sends queue, and the next call takes all of them (up
    to MAX_SEND_BATCH), each with its own socket's token. One send alone goes at once, in a
    call of its own; under load a call carries many, so the RPC's cost (the request, nameko's
    worker, the reply, on both sides and in RabbitMQ) is paid once per batch, not per message."""

    def __init__(self, rpc: RpcPool, calls_in_flight: int, max_batch: int = MAX_SEND_BATCH) -> None:
        self._rpc = rpc
        self._calls_in_flight = calls_in_flight
        self._max_batch = max_batch
        self._queue: deque[tuple[dict[str, Any], Event]] = deque()
        self._calls = 0

    def send(
        self, access_token: str, conversation_id: str, body: dict[str, Any], origin: str
    ) -> dict[str, Any]:
        """messaging's answer to this send ({message, duplicate}); raises its DomainError."""
        answered = Event()
        item = {
            "token": access_token,
            "conversation_id": conversation_id,
            "body": body,
            "origin": origin,
        }
        self._queue.append((item, answered))
        if self._calls < self._calls_in_flight:
            self._calls += 1
            eventlet.spawn_n(self._call_while_queued)
        return answered.wait()

    def _call_while_queued(self) -> None:
        try:
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                try:
                    answers = self._rpc.call(
                        None, "messaging", "send_messages", [item for item, _ in batch]
                    )
                    if not isinstance(answers, list) or len(answers) != len(batch):
                        raise ServiceUnavailable("messaging did not answer every send")
                except Exception as error:  # the whole call failed: every send in it did
                    for _, answered in batch:
                        answered.send_exception(error)
                    continue
                for (_, answered), answer in zip(batch, answers, strict=True):
                    answer = answer if isinstance(answer, dict) else {}
                    serialized = answer.get("error")
                    if "sent" in answer:
                        answered.send(answer["sent"])
                    else:  # a DomainError comes back as itself, anything else as RemoteError
                        answered.send_exception(
                            deserialize(serialized if isinstance(serialized, dict) else {})
                        )
        finally:
            self._calls -= 1
