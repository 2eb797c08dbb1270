"""messaging.send_messages, the call ws batches its sockets' sends into: each send acts for the
owner of its own token (checked like a call's token) and is answered alone, in order; a
conversation's sends are stored in the order they came. Real RabbitMQ, Redis and embedded store;
and ws's SendBatcher against the running service."""

import uuid

import eventlet
import pytest
from nameko.exceptions import deserialize
from nameko.standalone.rpc import ClusterRpcProxy

from dependencies.redis import make_redis
from kernel.denylist import AccessDenylist
from kernel.errors import InvalidInput, NotFound, Unauthenticated
from services.messaging.service import MessagingService
from tests.acting import access_token
from tests.chat_seed import seed_conversations
from ws.rpc import RpcPool, SendBatcher

pytestmark = pytest.mark.integration


@pytest.fixture
def chat(container_factory, service_config, tmp_path):
    """A running messaging service and one conversation between a brand and a creator."""
    directory = str(tmp_path / "mongo")
    (conversation_id,), ((brand, creator),) = seed_conversations(directory, 1)
    config = {**service_config, "MONGO_URL": f"embedded://{directory}"}
    container_factory(MessagingService, config).start()
    return config, conversation_id, brand, creator


def send(token, conversation_id, text, origin="hub/1"):
    body = {"client_msg_id": uuid.uuid4().hex, "body": text}
    return {"token": token, "conversation_id": conversation_id, "body": body, "origin": origin}


def test_each_send_acts_for_its_own_token_and_is_answered_alone(chat):
    config, conversation_id, brand, creator = chat
    brand_token = access_token(config, brand, "brand")
    outsider_token = access_token(config, str(uuid.uuid4()), "creator")
    batch = [
        send(brand_token, conversation_id, "one"),
        send("not-a-token", conversation_id, "forged"),
        send(outsider_token, conversation_id, "not a participant"),
        send(access_token(config, creator, "creator"), conversation_id, "two"),
        send(brand_token, conversation_id, "three"),
        send(brand_token, str(uuid.uuid4()), "nowhere"),
    ]
    with ClusterRpcProxy(config, timeout=20) as cluster:
        answers = cluster.messaging.send_messages(batch)  # the call itself carries no token
    sent = [answer["sent"]["message"] for answer in answers if "sent" in answer]
    assert [(m["body"], m["seq"]) for m in sent] == [("one", 1), ("two", 2), ("three", 3)]
    assert [m["sender_id"] for m in sent] == [brand, creator, brand]
    errors = [deserialize(answer["error"]) for answer in answers if "error" in answer]
    assert [type(error) for error in errors] == [Unauthenticated, NotFound, NotFound]


def test_revoked_tokens_fail_only_their_own_sends(chat):
    config, conversation_id, brand, creator = chat
    logged_out, revoked_session = str(uuid.uuid4()), str(uuid.uuid4())
    denylist = AccessDenylist(make_redis(config))
    denylist.deny_session(logged_out, 60)
    revoked = access_token(config, creator, "creator", session_id=logged_out)
    brand_token = access_token(config, brand, "brand", session_id=revoked_session)
    batch = [
        send(revoked, conversation_id, "from a signed-out session"),
        send(brand_token, conversation_id, "one"),
        send(revoked, conversation_id, "again"),
        send(brand_token, conversation_id, "two"),
    ]
    with ClusterRpcProxy(config, timeout=20) as cluster:
        answers = cluster.messaging.send_messages(batch)
        assert [answer["sent"]["message"]["body"] for answer in answers[1::2]] == ["one", "two"]
        for answer in answers[0::2]:
            error = deserialize(answer["error"])
            assert isinstance(error, Unauthenticated) and "revoked" in str(error)
        denylist.deny_session(revoked_session, 60)  # the brand signs out too
        (answer,) = cluster.messaging.send_messages([send(brand_token, conversation_id, "x")])
        assert isinstance(deserialize(answer["error"]), Unauthenticated)


def test_a_malformed_batch_is_refused_whole_and_stores_nothing(chat):
    config, conversation_id, brand, _ = chat
    token = access_token(config, brand, "brand")
    with ClusterRpcProxy(config, timeout=20) as cluster:
        for bad in ([], "sends", [{"token": token}], [send(token, conversation_id, "x")] * 201):
            with pytest.raises(InvalidInput):
                cluster.messaging.send_messages(bad)
    with ClusterRpcProxy(config, context_data={"auth_token": token}, timeout=20) as cluster:
        assert cluster.messaging.history(conversation_id, {})["items"] == []


def test_the_batcher_carries_concurrent_sends_in_few_calls_with_their_answers(chat):
    config, conversation_id, brand, creator = chat
    tokens = {brand: access_token(config, brand, "brand")}
    tokens[creator] = access_token(config, creator, "creator")
    rpc = RpcPool(config, size=2, timeout=10)
    calls: list[int] = []
    counted_call = rpc.call

    def call(token, service, method, *args):
        calls.append(len(args[0]))
        return counted_call(token, service, method, *args)

    rpc.call = call  # type: ignore[method-assign]
    batcher = SendBatcher(rpc, calls_in_flight=1)
    try:
        pool = eventlet.GreenPool()
        senders = [brand, creator] * 10
        results = [
            pool.spawn(
                batcher.send,
                tokens[user],
                conversation_id,
                {"client_msg_id": f"m{index}", "body": f"hello {index}"},
                "hub/1",
            )
            for index, user in enumerate(senders)
        ]
        answers = [result.wait() for result in results]
        with pytest.raises(NotFound):
            batcher.send(tokens[brand], str(uuid.uuid4()), {"client_msg_id": "x", "body": "y"}, "o")
    finally:
        rpc.stop()
    assert sorted(answer["message"]["seq"] for answer in answers) == list(range(1, 21))
    assert [answer["message"]["body"] for answer in answers] == [f"hello {i}" for i in range(20)]
    assert sum(calls[:-1]) == 20 and len(calls) - 1 < 20  # batched: fewer calls than sends
