"""What is deleted from SQLite is gone from its files, not only from its tables (A9).

SQLite leaves deleted content in free space unless ``secure_delete`` is on, and in WAL
mode keeps the old version of every changed page in the ``-wal`` file until the log
starts over: a copy of the files (a backup, a support bundle) would still hold an
erased address. crmsync sets the pragma itself (Debian's build defaults to it; other
builds do not, which the listener below stands for) and empties the log after an erasure.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import Engine, event

from crmsync.crm.db import drop_old_page_versions, make_engine


def _like_a_build_without_secure_delete(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA secure_delete=OFF")


def _engine(path: Path) -> Engine:
    """crmsync's engine, on a SQLite that does not zero deleted content by default."""
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _like_a_build_without_secure_delete, insert=True)
    return engine


def _files(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_deleted_text_is_not_left_in_the_file_or_its_log(tmp_path: Path) -> None:
    # Rows deleted while another process keeps the database open (the API) leave no
    # copy in the database file or in its write-ahead log once the log is dropped.
    path = tmp_path / "crm.db"
    canary = f"canary-{secrets.token_hex(8)}@customer.example"
    engine = _engine(path)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        for n in range(50):  # neighbours: the page stays in use after the delete
            connection.exec_driver_sql("INSERT INTO notes (body) VALUES (?)",
                                       (f"note {n} of someone else",))
        connection.exec_driver_sql("INSERT INTO notes (body) VALUES (?)", (canary,))
    reader = engine.connect()  # the other process: the last close would clean up anyway
    try:
        assert canary.encode() in _files(path)
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM notes WHERE body = ?", (canary,))
        assert drop_old_page_versions(engine)
        assert path.with_name(path.name + "-wal").stat().st_size == 0
        assert canary.encode() not in _files(path)
    finally:
        reader.close()
        engine.dispose()


def test_the_pragma_is_set_on_every_connection(tmp_path: Path) -> None:
    # The setting is crmsync's, whatever the build's default.
    engine = _engine(tmp_path / "crm.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()
