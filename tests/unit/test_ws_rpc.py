"""ws relays each socket's own access token with its RPC calls, and only for that call."""

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY

from ws.rpc import RpcPool


class RecordingCluster:
    """Stands in for a started ClusterRpcProxy: records the context each call would send."""

    def __init__(self, context_data):
        self.context_data = context_data
        self.sent = []

    def __getattr__(self, service):
        cluster = self

        class Service:
            def __getattr__(self, method):
                def call(*args):
                    cluster.sent.append((service, method, args, dict(cluster.context_data)))
                    return "ok"

                return call

        return Service()


def test_each_call_carries_its_sockets_token_and_nothing_lingers(monkeypatch):
    clusters = []

    def create(self):
        context: dict = {}
        clusters.append(RecordingCluster(context))
        return clusters[-1], context

    monkeypatch.setattr(RpcPool, "_create", create)
    pool = RpcPool({}, size=1, timeout=1)
    assert pool.call("token-a", "messaging", "partners") == "ok"
    assert pool.call("token-b", "messaging", "history", "c-1") == "ok"
    (cluster,) = clusters  # one pooled proxy, reused
    assert [(method, ctx) for _, method, _, ctx in cluster.sent] == [
        ("partners", {AUTH_TOKEN_CONTEXT_KEY: "token-a"}),
        ("history", {AUTH_TOKEN_CONTEXT_KEY: "token-b"}),
    ]
    assert cluster.context_data == {}
