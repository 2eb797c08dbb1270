"""Create the database if it is missing, then upgrade every service schema to head; the same
for analytics' ClickHouse database (CLICKHOUSE_URL; on every server of CLICKHOUSE_CLUSTER when
that names a cluster).

  python -m scripts.migrate                         migrate (make migrate, the migrate Job)
  python -m scripts.migrate --wait 600 --stores postgres,clickhouse
      change nothing: wait until every schema in those stores is at head (exit 1 after the
      timeout). The services' Kubernetes initContainer: a pod of a new image starts only once
      the migrate Job of that image has finished.
"""

import argparse
import os
import sys
import time
from configparser import ConfigParser

import psycopg2
from alembic import command
from alembic.config import Config
from psycopg2 import sql
from sqlalchemy.engine import make_url

from dependencies.alembic_env import database_url
from dependencies.clickhouse import make_client
from kernel.config import PROJECT_ROOT, load_config
from services.analytics import clickhouse_schema

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


def clickhouse_url() -> str:
    return os.environ.get("CLICKHOUSE_URL") or load_config()["CLICKHOUSE_URL"]


def clickhouse_cluster() -> str | None:
    return os.environ.get("CLICKHOUSE_CLUSTER") or load_config().get("CLICKHOUSE_CLUSTER") or None


def pending_postgres() -> list[str]:
    """Alembic sections whose schema is not at head (unreachable database: all of them)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from dependencies.postgres import sqlalchemy_url
    from kernel.config import resolve_path

    engine = create_engine(sqlalchemy_url(database_url()))
    pending = []
    try:
        with engine.connect() as connection:
            for section in service_sections():
                config = Config(str(ALEMBIC_INI), ini_section=section)
                location = resolve_path(config.get_main_option("script_location") or "")
                config.set_main_option("script_location", str(location))
                heads = set(ScriptDirectory.from_config(config).get_heads())
                context = MigrationContext.configure(
                    connection, opts={"version_table_schema": section}
                )
                if set(context.get_current_heads()) != heads:
                    pending.append(section)
    finally:
        engine.dispose()
    return pending


def pending_clickhouse() -> list[str]:
    url = clickhouse_url()
    client = make_client(url, database="default")
    try:
        done = clickhouse_schema.applied_versions(
            client, clickhouse_schema.database_of(url), clickhouse_cluster()
        )
    finally:
        client.disconnect()
    wanted = {version for version, _, _ in clickhouse_schema.MIGRATIONS}
    return [f"clickhouse:{version}" for version in sorted(wanted - done)]


def wait_until_current(stores: list[str], timeout: float, interval: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    checks = {"postgres": pending_postgres, "clickhouse": pending_clickhouse}
    while True:
        pending: list[str] = []
        for store in stores:
            try:
                pending += checks[store]()
            except Exception as exc:
                pending.append(f"{store} ({type(exc).__name__})")
        if not pending:
            print(f"schemas at head in {', '.join(stores)}", file=sys.stderr)
            return True
        if time.monotonic() > deadline:
            print(f"migrations pending after {timeout:g}s: {', '.join(pending)}", file=sys.stderr)
            return False
        time.sleep(interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=float, help="only wait (seconds) for schemas at head")
    parser.add_argument("--stores", default="postgres,clickhouse")
    args = parser.parse_args([] if argv is None else argv)  # main(): migrate
    if args.wait is not None:
        stores = [s for s in args.stores.split(",") if s]
        unknown = set(stores) - {"postgres", "clickhouse"}
        if unknown:
            parser.error(f"unknown stores {sorted(unknown)}")
        sys.exit(0 if wait_until_current(stores, args.wait) else 1)
    url = database_url()
    ensure_database(url)
    for section in service_sections():
        command.upgrade(Config(str(ALEMBIC_INI), ini_section=section), "head")
    print(
        f"migrated {', '.join(service_sections())} on {make_url(url).render_as_string()}",
        file=sys.stderr,
    )
    applied = clickhouse_schema.migrate(clickhouse_url(), clickhouse_cluster())
    print(
        f"migrated ClickHouse {clickhouse_schema.database_of(clickhouse_url())}"
        f" ({len(applied)} new migrations)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
