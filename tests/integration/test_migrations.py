"""The migrations build exactly the tables the models describe, and undo themselves cleanly.

Each service's schema is upgraded to head in a scratch database, compared with the service's
SQLAlchemy metadata by Alembic's autogenerate (what `alembic revision --autogenerate` would
write must be nothing), then downgraded to base and upgraded again.
"""

import importlib
import os
from collections.abc import Iterator
from configparser import ConfigParser

import psycopg2
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from psycopg2 import sql
from sqlalchemy import MetaData, create_engine, inspect
from sqlalchemy.engine import make_url

from dependencies.postgres import sqlalchemy_url
from kernel.config import PROJECT_ROOT
from scripts.migrate import ALEMBIC_INI, service_sections
from tests.conftest import TEST_DATABASE_URL

SCRATCH_URL = str(
    make_url(TEST_DATABASE_URL).set(database=make_url(TEST_DATABASE_URL).database + "_migrations")
)


def admin_connection():
    target = make_url(SCRATCH_URL)
    connection = psycopg2.connect(
        host=target.host, port=target.port, user=target.username, dbname="postgres"
    )
    connection.autocommit = True
    return connection


@pytest.fixture(scope="module")
def scratch_database() -> Iterator[str]:
    name = make_url(SCRATCH_URL).database
    connection = admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = SCRATCH_URL
    try:
        yield SCRATCH_URL
    finally:
        if previous is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = previous
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        connection.close()


def alembic_config(section: str) -> Config:
    return Config(str(ALEMBIC_INI), ini_section=section)


def service_metadata(section: str) -> MetaData:
    parser = ConfigParser()
    parser.read(ALEMBIC_INI)
    assert parser.get(section, "script_location").startswith("services/")
    return importlib.import_module(f"services.{section}.models").Base.metadata


def schema_differences(url: str, metadata: MetaData) -> list:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_schemas": True,
                    "include_name": lambda name, type_, _parent: (
                        type_ != "schema" or name == metadata.schema
                    ),
                    "version_table_schema": metadata.schema,
                    "compare_server_default": True,
                },
            )
            return [
                difference
                for difference in compare_metadata(context, metadata)
                if not (difference[0] == "remove_table" and difference[1].name == "alembic_version")
            ]
    finally:
        engine.dispose()


def service_tables(url: str, schema: str) -> set[str]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        return set(inspect(engine).get_table_names(schema=schema))
    finally:
        engine.dispose()


SECTIONS = service_sections()


def test_every_service_has_migrations() -> None:
    assert set(SECTIONS) == {"auth", "users", "campaigns", "applications", "analytics"}
    for section in SECTIONS:
        assert (PROJECT_ROOT / "services" / section / "migrations" / "versions").is_dir()


@pytest.mark.parametrize("section", SECTIONS)
def test_migrations_build_what_the_models_describe(scratch_database: str, section: str) -> None:
    metadata = service_metadata(section)
    command.upgrade(alembic_config(section), "head")

    assert schema_differences(scratch_database, metadata) == []


@pytest.mark.parametrize("section", SECTIONS)
def test_migrations_downgrade_to_nothing_and_up_again(scratch_database: str, section: str) -> None:
    metadata = service_metadata(section)
    config = alembic_config(section)
    command.upgrade(config, "head")

    command.downgrade(config, "base")
    assert service_tables(scratch_database, metadata.schema) == {"alembic_version"}

    command.upgrade(config, "head")
    assert schema_differences(scratch_database, metadata) == []
