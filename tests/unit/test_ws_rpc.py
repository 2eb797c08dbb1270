"""ws relays each socket's own access token with its RPC calls, and only for that call; its
sends go to messaging in batches, each answered alone, and nothing messaging answers leaves a
send without an answer."""

import eventlet
from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.exceptions import RemoteError, serialize

from kernel.errors import NotFound, ServiceUnavailable
from ws.rpc import RpcPool, SendBatcher


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


class AnsweringRpc:
    """Stands in for RpcPool: answers every send_messages call with `answer(batch)`."""

    def __init__(self, answer):
        self.answer = answer
        self.batches = []

    def call(self, token, service, method, batch):
        assert (token, service, method) == (None, "messaging", "send_messages")
        self.batches.append(batch)
        eventlet.sleep(0.01)  # a call takes a moment: sends made meanwhile queue
        return self.answer(batch)


def send_all(batcher, count):
    """`count` sends from as many greenthreads; the first is under way before the others."""
    pool = eventlet.GreenPool()
    threads = []
    for i in range(count):
        threads.append(
            pool.spawn(batcher.send, f"token-{i}", "c-1", {"client_msg_id": f"m{i}"}, "hub/1")
        )
        if i == 0:
            eventlet.sleep(0.001)  # its call is out now
    outcomes = []
    with eventlet.Timeout(5):  # every send is answered, whatever messaging did
        for thread in threads:
            try:
                outcomes.append(thread.wait())
            except Exception as error:
                outcomes.append(error)
    return outcomes


def test_sends_queued_during_a_call_go_together_in_the_next_each_with_its_token():
    rpc = AnsweringRpc(lambda batch: [{"sent": {"seq": i}} for i, _ in enumerate(batch)])
    outcomes = send_all(SendBatcher(rpc, calls_in_flight=1), 5)
    assert [len(batch) for batch in rpc.batches] == [1, 4]
    assert [item["token"] for batch in rpc.batches for item in batch] == [
        f"token-{i}" for i in range(5)
    ]
    assert outcomes == [{"seq": 0}, {"seq": 0}, {"seq": 1}, {"seq": 2}, {"seq": 3}]


def test_a_send_gets_its_own_error_and_a_short_or_odd_answer_fails_the_sends_not_the_hub():
    not_found = {"error": serialize(NotFound("no such conversation"))}
    rpc = AnsweringRpc(lambda batch: [not_found, {"odd": 1}][: len(batch)])
    first, second, third = send_all(SendBatcher(rpc, calls_in_flight=1), 3)
    assert isinstance(first, NotFound)  # a batch of one, answered with its own error
    assert isinstance(second, NotFound)
    assert isinstance(third, RemoteError)  # an answer that is neither sent nor an error
    short = AnsweringRpc(lambda batch: [])
    outcomes = send_all(SendBatcher(short, calls_in_flight=2), 3)
    assert all(isinstance(outcome, ServiceUnavailable) for outcome in outcomes)
    garbled = AnsweringRpc(lambda batch: ["sent", {"error": "not found"}, None][: len(batch)])
    outcomes = send_all(SendBatcher(garbled, calls_in_flight=1), 4)
    assert all(isinstance(outcome, RemoteError) for outcome in outcomes)
