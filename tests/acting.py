"""Calling services as a user the way the gateway does: with the user's access token in the RPC
context (`auth_token`), signed with the test configuration's key."""

import uuid
from typing import Any

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.standalone.rpc import ClusterRpcProxy

from kernel.tokens import TokenCodec


def access_token(
    config: dict[str, Any],
    user_id: str,
    role: str,
    session_id: str | None = None,
    now: float | None = None,
) -> str:
    codec = TokenCodec.from_config(config, signing=True)
    token, _ = codec.issue_access_token(
        subject=user_id, role=role, session_id=session_id or str(uuid.uuid4()), now=now
    )
    return token


def user_context(config: dict[str, Any], user: dict[str, str]) -> dict[str, str]:
    """Context data for `user` ({"user_id", "role"}), as the gateway relays it."""
    return {AUTH_TOKEN_CONTEXT_KEY: access_token(config, user["user_id"], user["role"])}


def acting_as(config: dict[str, Any], user: dict[str, str], timeout: float = 20) -> ClusterRpcProxy:
    """A cluster proxy whose every call carries `user`'s access token."""
    return ClusterRpcProxy(config, context_data=user_context(config, user), timeout=timeout)
