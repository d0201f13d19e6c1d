"""Run a page iterator one page ahead in a thread, so fetching overlaps storing.

While the engine matches and stores page N (CPU, SQLite), the connector already waits
for the server's answer to page N+1 and parses it. Pages still arrive in order and the
engine still commits each page's records with its cursor, so exactly-once and crash
resume are unchanged: a page fetched ahead but never committed is fetched again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()
#: how long the worker waits on a full queue before checking whether it was abandoned
_POLL_SECONDS = 0.2


class Prefetch(Generic[T]):
    """Iterate ``source`` in a worker thread, at most ``ahead`` items in advance.

    Use as a context manager: leaving it (also on an error in the consumer) stops the
    worker and closes ``source`` in the worker's thread before returning, so the
    connector is never used by two threads at once. An exception in ``source`` is
    raised in the consumer when it reaches that point.
    """

    def __init__(self, source: Iterator[T], ahead: int = 1) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crmsync-prefetch", daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]

    def _put(self, item: object) -> bool:
        """Queue ``item``; return False when the consumer went away meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer as is
            self._put(_Failure(error))
            return
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
        self._put(_DONE)


class _Failure:
    """An exception of the source, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
