"""What ws puts on the broker when a socket's frame calls messaging: a transient request that
expires with the call's deadline and carries that socket's token (read back from a real
RabbitMQ queue bound where messaging's would be)."""

import time

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY

from dependencies.rpc import TRANSIENT_DELIVERY_MODE
from kernel.errors import ServiceUnavailable
from ws.rpc import RpcPool

pytestmark = pytest.mark.integration


def test_requests_are_transient_expire_with_the_deadline_and_carry_the_token(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    rpc_exchange = Exchange("nameko-rpc", type="topic", durable=True)
    with Connection(uri) as connection:
        # stands where messaging's request queue would be, and never answers
        probe = Queue("probe", exchange=rpc_exchange, routing_key="messaging.*")
        probe(connection).declare()
        pool = RpcPool(rabbit_config, size=1, timeout=2)
        call = eventlet.spawn(
            pool.call, "token-a", "messaging", "send_message", "c-1", {"body": "hi"}
        )
        try:
            request, deadline = None, time.monotonic() + 2
            while request is None and time.monotonic() < deadline:
                request = probe(connection).get()  # requeued below, for the expiry check
                eventlet.sleep(0.01)
            assert request is not None
            request.requeue()
            with pytest.raises(ServiceUnavailable, match="within 2s"):
                call.wait()
            assert probe(connection).get() is None  # expired with the deadline
        finally:
            pool.stop()
    assert request.properties["delivery_mode"] == TRANSIENT_DELIVERY_MODE
    assert request.properties["expiration"] == "2000"
    assert request.headers[f"nameko.{AUTH_TOKEN_CONTEXT_KEY}"] == "token-a"
    assert request.delivery_info["routing_key"] == "messaging.send_message"
