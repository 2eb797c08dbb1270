"""PostgreSQL for Nameko services: one SQLAlchemy session per worker.

The session is committed when the entrypoint method returns and rolled back when it raises. That
happens *inside* the worker call, before Nameko sends the RPC reply or HTTP response, so a caller
never sees success for a transaction that failed to commit (Nameko's own worker_result hook runs
after the reply, which is too late for that).

Two addresses (docs/operations.md "PostgreSQL"): the workers' sessions use DATABASE_POOL_URL when
it is set (PgBouncer in transaction mode: a server connection per transaction, so nothing may
keep session state: no LISTEN, session advisory locks, SET or server-side prepared statements;
psycopg2 prepares none). Everything else (the outbox relay's LISTEN, migrations) uses
DATABASE_URL, PostgreSQL itself. Locally both are the same server.
"""

import functools
from typing import Any

import psycogreen.eventlet
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker


def sqlalchemy_url(database_url: str) -> URL:
    """DATABASE_URL is a plain postgresql:// URL; SQLAlchemy is told to use psycopg2 for it."""
    return make_url(database_url).set(drivername="postgresql+psycopg2")


def make_engine(
    config: dict[str, Any], pool_size: int | None = None, pooled: bool = False
) -> Engine:
    """An engine on PostgreSQL itself, or (`pooled`) on DATABASE_POOL_URL when that is set.
    Deployments set DB_MAX_OVERFLOW=0: a replica opens at most its pool size, the number the
    connection budget counts."""
    # psycopg2 blocks the whole process unless it yields to eventlet's hub on socket waits.
    psycogreen.eventlet.patch_psycopg()
    url = (pooled and config.get("DATABASE_POOL_URL")) or config["DATABASE_URL"]
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size or int(config.get("DB_POOL_SIZE", 10)),
        max_overflow=int(config.get("DB_MAX_OVERFLOW", 5)),
        pool_pre_ping=True,
    )


class Database(DependencyProvider):
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.make_session: sessionmaker[Session] | None = None
        self.sessions: dict[WorkerContext, Session] = {}

    def setup(self) -> None:
        self.engine = make_engine(self.container.config, pooled=True)
        self.make_session = sessionmaker(bind=self.engine, expire_on_commit=False)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def get_dependency(self, worker_ctx: WorkerContext) -> Session:
        assert self.make_session is not None
        session = self.make_session()
        self.sessions[worker_ctx] = session
        return session

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        service = worker_ctx.service
        method_name = worker_ctx.entrypoint.method_name
        method = getattr(service, method_name)
        session = self.sessions[worker_ctx]

        @functools.wraps(method)
        def in_transaction(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return result

        # The service instance lives for this one worker only, so the override is per worker.
        setattr(service, method_name, in_transaction)

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
