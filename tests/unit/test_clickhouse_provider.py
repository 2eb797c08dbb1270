from unittest import mock

import pytest

from dependencies.clickhouse import ClickHouse, database_of, make_client

CONTAINER = mock.Mock(config={"CLICKHOUSE_URL": "clickhouse://reader:s3cret@db.local:9440/stats"})


def test_url_gives_host_port_user_password_and_database():
    client = make_client(CONTAINER.config["CLICKHOUSE_URL"])
    params = client.connection
    assert (list(params.hosts), params.user, params.password, params.database) == (
        [("db.local", 9440)],
        "reader",
        "s3cret",
        "stats",
    )
    assert database_of("clickhouse://default@127.0.0.1:9000") == "default"


def test_other_schemes_are_refused():
    with pytest.raises(ValueError, match="clickhouse://"):
        make_client("http://127.0.0.1:8123/analytics")


def test_each_concurrent_worker_gets_its_own_client_and_gives_it_back():
    provider = ClickHouse(pool_size=2).bind(CONTAINER, "clickhouse")
    provider.setup()
    first_worker, second_worker, third_worker = mock.Mock(), mock.Mock(), mock.Mock()
    first = provider.get_dependency(first_worker)
    second = provider.get_dependency(second_worker)
    assert first is not second
    provider.worker_teardown(first_worker)
    assert provider.get_dependency(third_worker) is first  # reused, no third connection
    assert provider.pool.created == 2
    provider.worker_teardown(second_worker)
    provider.worker_teardown(third_worker)
    provider.stop()
