"""Request ids in service logs. The gateway puts `request_id` into the Nameko context data of every
RPC; this provider exposes it to logging for the duration of each worker, and RequestIdFilter
adds it to every log record (`-` outside a request)."""

import logging

from eventlet.corolocal import local
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

_worker_local = local()  # one value per greenthread: each Nameko worker has its own


def current_request_id() -> str:
    return getattr(_worker_local, "request_id", "-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class RequestContext(DependencyProvider):
    def get_dependency(self, worker_ctx: WorkerContext) -> None:
        return None

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        _worker_local.request_id = str(worker_ctx.data.get("request_id", "-"))

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        _worker_local.request_id = "-"
