"""Call user-acting RPCs from `make shell` (nameko shell) as a real user:

    >>> from scripts.act_as import act_as
    >>> brand = act_as(n.config, "brand@demo.example.com", "demo password 2026")
    >>> brand.users.get_own_profile()
    >>> brand.campaigns.list_campaigns({"mine": "true"})

Services act for a user only on that user's access token (relayed in the RPC context, see
dependencies/caller.py), so the helper logs in through auth like any client and returns a cluster
proxy whose every call carries the access token. The token expires like any other (15 minutes by
default): call act_as again for a fresh one. Public reads (`n.rpc.users.get_creator(id)`) and
health checks need no token.
"""

from typing import Any

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.standalone.rpc import ClusterRpcProxy


def act_as(config: dict[str, Any], email: str, password: str) -> Any:
    """A started cluster proxy acting for the account `email` (stops when the shell exits)."""
    with ClusterRpcProxy(config) as rpc:
        tokens = rpc.auth.login({"email": email, "password": password}, "nameko-shell")
    proxy = ClusterRpcProxy(config, context_data={AUTH_TOKEN_CONTEXT_KEY: tokens["access_token"]})
    return proxy.start()
