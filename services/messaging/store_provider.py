"""The message store as a Nameko dependency: one store per container, chosen by MONGO_URL
(mongodb:// a real MongoDB, embedded:// the on-disk montydb default; see
store.py).
"""

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

from services.messaging.store import ConversationStore, open_store


class MessageStore(DependencyProvider):
    def __init__(self) -> None:
        self.store: ConversationStore | None = None

    def setup(self) -> None:
        self.store = open_store(str(self.container.config["MONGO_URL"]))

    def stop(self) -> None:
        if self.store is not None:
            self.store.close()

    def get_dependency(self, worker_ctx: WorkerContext) -> ConversationStore:
        assert self.store is not None
        return self.store
