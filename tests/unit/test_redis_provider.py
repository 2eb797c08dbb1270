from unittest import mock

from dependencies.redis import Redis

CONTAINER = mock.Mock(config={"REDIS_URL": "redis://127.0.0.1:6379/15"})


def test_every_worker_shares_one_pooled_client():
    provider = Redis().bind(CONTAINER, "redis")
    provider.setup()
    first = provider.get_dependency(mock.Mock())
    second = provider.get_dependency(mock.Mock())
    assert first is second
    assert first.connection_pool.connection_kwargs["db"] == 15
    provider.stop()
