"""During a backfill, copy SQLite's write-ahead log into the database from another thread.

In WAL mode every commit appends to the ``-wal`` file, and the commit that takes it past
1,000 pages also copies it back into the database file and syncs both (a checkpoint).
On a backfill that is most of the commit cost, paid on the thread that matches and
stores mail: 0.3 s of a 20,000-message first sync. A checkpoint does not need the writer:
SQLite runs it beside readers and writers alike, and the sqlite3 module releases the
interpreter lock while it runs, so here a thread with its own connection does it after
each commit while the writer goes on with the next page.

Only the writer's connections stop checkpointing (``wal_autocheckpoint=0`` while they
are checked out inside the block); every other connection keeps SQLite's default, and
leaving the block restores it and checkpoints once more. The log stays bounded (see
:class:`Checkpointer`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

#: SQLite's own default for ``wal_autocheckpoint``, restored on the writer's connections
DEFAULT_AUTOCHECKPOINT = 1000


#: log size past which a commit waits for the checkpoint under way (bytes)
MAX_LOG_BYTES = 32 * 1024 * 1024


class Checkpointer:
    """A thread that checkpoints the database each time :meth:`committed` is called.

    SQLite starts the log over only when a write begins after a complete checkpoint.
    The writer usually takes longer to store a page than the thread to copy the last
    one, so that is what happens; when it does not (a slow disk), a commit that finds
    the log past ``max_log_bytes`` waits for the checkpoint, so the log stays bounded.
    """

    def __init__(self, path: str, max_log_bytes: int = MAX_LOG_BYTES) -> None:
        self._path = path
        self._max_log_bytes = max_log_bytes
        self._changed = threading.Condition()
        self._requested = self._done = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="crmsync-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        """Say a transaction was committed: its log pages may now be copied."""
        with self._changed:
            self._requested += 1
            self._changed.notify_all()
            if self._log_bytes() > self._max_log_bytes:
                self._changed.wait_for(lambda: self._done >= self._requested)

    def stop(self) -> None:
        with self._changed:
            self._stop = True
            self._requested += 1
            self._changed.notify_all()
        self._thread.join()

    def _log_bytes(self) -> int:
        try:
            return os.stat(self._path + "-wal").st_size
        except OSError:
            return 0

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._requested > self._done)
                    target, stop = self._requested, self._stop
                self._checkpoint(connection)
                with self._changed:
                    self._done = target
                    self._changed.notify_all()
                if stop:
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the writer's own checkpoints take over again
            log.warning("background checkpoint of %s failed: %s", self._path, exc)


@contextmanager
def background_checkpoints(engine: Engine, max_log_bytes: int = MAX_LOG_BYTES
                           ) -> Iterator[Checkpointer | None]:
    """Checkpoint ``engine``'s SQLite file in a thread while the block writes to it.

    Yields the :class:`Checkpointer` (call :meth:`~Checkpointer.committed` after each
    commit), or ``None`` when there is nothing to do (PostgreSQL, an in-memory database).
    """
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield None
        return
    checkpointer = Checkpointer(path, max_log_bytes)

    def writer_off(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    def writer_back(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_AUTOCHECKPOINT}")

    event.listen(engine, "checkout", writer_off)
    event.listen(engine, "checkin", writer_back)
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        event.remove(engine, "checkout", writer_off)
        event.remove(engine, "checkin", writer_back)
        checkpointer.stop()
