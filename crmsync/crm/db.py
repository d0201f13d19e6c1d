"""Database engine, sessions and schema upgrades for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
#: how long a write that must not be left undone waits for a database that went away
PATIENCE_SECONDS = 30

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, durable commits, a long busy timeout, foreign keys
    and secure deletes.

    WAL lets the API read while a sync writes; ``synchronous=FULL`` syncs the log at
    every commit, so a committed page and its cursor survive a power cut too, not only
    a crash of crmsync (a sync commits once per page of 500 mails, so this costs little);
    ``busy_timeout`` of 30 s means a writer waits for another instead of failing with
    "database is locked"; ``secure_delete`` zeroes deleted and overwritten content, so
    an erased address does not live on in the file's free space (some SQLite builds
    default to it, others do not: set, not assumed).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def drop_old_page_versions(engine: Engine) -> bool:
    """After an erasure, empty SQLite's write-ahead log; ``False`` when a reader kept it.

    In WAL mode a changed page is appended to the ``-wal`` file and its old version stays
    there until the log starts over, so a copy of the database's files would still hold
    what was just erased. A TRUNCATE checkpoint writes the log into the database (where
    ``secure_delete`` zeroes what the erasure freed) and cuts the log to zero bytes; it
    waits up to ``busy_timeout`` for a reader of an older snapshot to finish.
    PostgreSQL keeps no such copy that ``pg_dump`` or a client could read: nothing to do.
    """
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return not busy


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def patiently(write: Callable[[], T], what: str,
              patience: float = PATIENCE_SECONDS) -> T:
    """Run ``write`` (its own transaction), trying again while the database is unreachable.

    For the few writes that undo a claim (a mailbox's lease, an outbox row's claim):
    left undone, they hold work back until the claim expires, minutes later. A
    database that is restarting or failing over is waited for, backing off from 0.2 s
    to 5 s, up to ``patience`` seconds; then the last error is raised.
    """
    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            return write()
        except OperationalError:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("the database is unreachable; %s again in %.1f s", what, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def upgrade_schema(engine: Engine, revision: str = "heads") -> None:
    """Create or migrate the schema to ``revision`` with Alembic.

    ``heads``: features add their tables on their own migration branch off the
    core schema (see migrations/README.md), so every head is applied.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
