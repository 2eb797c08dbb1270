"""A `health` RPC every service inherits: `n.rpc.<service>.health()` in `make shell`, and what the
stack runner waits on before it calls a service ready."""

from typing import Any

from nameko.rpc import rpc


class HealthRpc:
    name: str

    @rpc
    def health(self) -> dict[str, Any]:
        return {"service": self.name, "status": "ok"}
