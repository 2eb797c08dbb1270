"""The consumers' error policy (dependencies/queues.py): what counts as an outage, the backoff,
the quorum arguments."""

import pytest
import redis.exceptions
import sqlalchemy.exc
from clickhouse_driver.errors import NetworkError, ServerException

from dependencies import queues
from kernel.errors import InvalidInput, ServiceUnavailable


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        ServiceUnavailable("campaigns is not running"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed")),
        redis.exceptions.ConnectionError(),
        NetworkError("connection refused"),
        ServerException("Too many parts", code=252),
    ],
)
def test_outages_are_transient(exc):
    assert queues.is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("event_id"),
        ValueError("bad"),
        InvalidInput("no"),
        sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate")),
        ServerException("Type mismatch", code=53),
        None,
    ],
)
def test_other_errors_are_not(exc):
    assert not queues.is_transient(exc)


def test_a_wrapped_outage_is_transient():
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as inner:
            raise RuntimeError("could not store") from inner
    except RuntimeError as outer:
        assert queues.is_transient(outer)


def test_backoff_doubles_up_to_its_cap():
    assert [queues.backoff_seconds(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert queues.backoff_seconds(20) == queues.MAX_BACKOFF_SECONDS
    assert queues.backoff_seconds(20, queues.MAX_FAILED_BACKOFF_SECONDS) == 8.0


def test_quorum_arguments_come_from_the_config():
    assert queues.quorum_arguments("q", "svc", {"AMQP_DELIVERY_LIMIT": "7"}) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "svc.dead-letter",
        "x-dead-letter-routing-key": "q",
    }
    assert queues.delivery_limit({}) == queues.DEFAULT_DELIVERY_LIMIT
    with pytest.raises(ValueError):
        queues.delivery_limit({"AMQP_DELIVERY_LIMIT": -1})
