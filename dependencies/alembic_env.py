"""Shared Alembic env: each service's migrations/env.py calls run_migrations(Base.metadata).

Every service keeps its tables and its alembic_version table in its own PostgreSQL schema.
"""

import os

from alembic import context
from sqlalchemy import MetaData, create_engine, text

from dependencies.postgres import sqlalchemy_url
from kernel.config import load_config


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or load_config()["DATABASE_URL"]


def run_migrations(metadata: MetaData) -> None:
    schema = metadata.schema
    assert schema, "each service's metadata must name its schema"
    engine = create_engine(sqlalchemy_url(database_url()))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
