"""Request ids in service logs, and no tokens in them. The gateway puts `request_id` into the
Nameko context data of every RPC; this provider exposes it to logging for the duration of each
worker, and RequestIdFilter adds it to every log record (`-` outside a request). RedactTokens
sits on the same handler (config.yml LOGGING), so every process's lines pass through it: the
hub's access lines (eventlet logs the whole request line) included."""

import logging
import re

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


class RedactTokens(logging.Filter):
    """Rewrites `jwt=<token>` in a log line (a request line, a traceback) to `jwt=[redacted]`:
    a browser may open the chat socket with its access token in the query string."""

    PATTERN = re.compile(r"(\bjwt=)[^&\s\"']+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "jwt=" in message.lower():
            record.msg, record.args = self.PATTERN.sub(r"\1[redacted]", message), None
        return True


class RequestContext(DependencyProvider):
    def get_dependency(self, worker_ctx: WorkerContext) -> None:
        return None

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        _worker_local.request_id = str(worker_ctx.data.get("request_id", "-"))

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        _worker_local.request_id = "-"
