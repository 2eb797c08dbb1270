"""`python -m scripts.migrate --wait`: the services' initContainer, which holds a pod of a new
image until the migrate Job has brought every schema to head."""

import pytest

from scripts import migrate
from tests.conftest import TEST_CLICKHOUSE_URL, TEST_DATABASE_URL

pytestmark = pytest.mark.integration


def test_wait_passes_when_every_schema_is_at_head(migrated_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("CLICKHOUSE_URL", TEST_CLICKHOUSE_URL)
    assert migrate.pending_postgres() == []
    assert migrate.pending_clickhouse() == []
    assert migrate.wait_until_current(["postgres", "clickhouse"], timeout=5)


def test_wait_fails_while_migrations_are_pending(migrated_database, monkeypatch):
    # An empty database (nothing migrated) and a ClickHouse database that doesn't exist yet.
    monkeypatch.setenv("DATABASE_URL", TEST_DATABASE_URL.rsplit("/", 1)[0] + "/postgres")
    monkeypatch.setenv("CLICKHOUSE_URL", TEST_CLICKHOUSE_URL + "_never_migrated")
    assert migrate.pending_postgres() == migrate.service_sections()
    assert not migrate.wait_until_current(["postgres", "clickhouse"], timeout=0, interval=0)
