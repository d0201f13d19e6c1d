"""RELIABILITY L7's settings, read back with PRAGMA from a connection crmsync opened.

The API and the sync write one SQLite file together: WAL lets readers go on while one
writes, and a busy timeout of at least 20 s makes a second writer wait its turn instead
of failing with "database is locked".
"""

from __future__ import annotations

from pathlib import Path

from crmsync.crm.db import make_engine


def test_sqlite_connections_use_wal_and_wait_for_the_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'crmsync.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() >= 20_000
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
