"""One lock per key, created on demand and dropped when nobody holds or waits for it."""

from collections.abc import Iterator
from contextlib import contextmanager

from eventlet.semaphore import Semaphore


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[Semaphore, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        lock, users = self._locks.get(key, (Semaphore(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
