"""Create the database if it is missing, then upgrade every service schema to head; the same
for analytics' ClickHouse database (CLICKHOUSE_URL)."""

import os
import sys
from configparser import ConfigParser

import psycopg2
from alembic import command
from alembic.config import Config
from psycopg2 import sql
from sqlalchemy.engine import make_url

from services.analytics import clickhouse_schema
from services.common.config import PROJECT_ROOT, load_config
from services.common.migrations import database_url

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


def service_sections() -> list[str]:
    parser = ConfigParser()
    parser.read(ALEMBIC_INI)
    return [
        s
        for s in parser.sections()
        if parser.has_option(s, "script_location")
        and not s.startswith(("logger", "handler", "formatter"))
    ]


def ensure_database(url: str) -> None:
    target = make_url(url)
    admin = target.set(database="postgres")
    connection = psycopg2.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        password=admin.password,
        dbname=admin.database,
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
            print(f"created database {target.database}")
    connection.close()


def main() -> None:
    url = database_url()
    ensure_database(url)
    for section in service_sections():
        command.upgrade(Config(str(ALEMBIC_INI), ini_section=section), "head")
    print(
        f"migrated {', '.join(service_sections())} on {make_url(url).render_as_string()}",
        file=sys.stderr,
    )
    clickhouse_url = os.environ.get("CLICKHOUSE_URL") or load_config()["CLICKHOUSE_URL"]
    applied = clickhouse_schema.migrate(clickhouse_url)
    print(
        f"migrated ClickHouse {clickhouse_schema.database_of(clickhouse_url)}"
        f" ({len(applied)} new migrations)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
