"""What every service inherits: a `health` RPC (`n.rpc.<service>.health()` in `make shell`, and
what the stack runner waits on before it calls a service ready) and the request id of the
current call in its log lines."""

from typing import Any

from nameko.rpc import rpc

from dependencies.request_context import RequestContext


class HealthRpc:
    name: str
    request_context = RequestContext()

    @rpc
    def health(self) -> dict[str, Any]:
        return {"service": self.name, "status": "ok"}
