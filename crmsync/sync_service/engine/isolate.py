"""Store a page whole, or item by item when the database refuses one of its items.

A page is written in one transaction with its cursor (run.py). When the database
refuses one row of it (a constraint, a value too long for its column, a NUL byte
PostgreSQL will not keep in text), failing the whole page would leave the mailbox
stuck on that page on every poll, and skipping it would lose the good items. So the
page is rolled back and applied again one item at a time, each in a SAVEPOINT: the
items the database still refuses are quarantined with its error as the reason, and
the good items, the quarantine rows and the cursor then commit together, once.

Only errors caused by an item's values are isolated this way; any other database
error (connection lost, database locked) still fails the page, to be retried whole.

Another sync storing the same records at the same moment is no fault of the item: two
mailboxes holding one message insert its activity (or a contact, a participant, a link)
under the same unique key, and the second insert fails once the first commits. That
refusal, and a deadlock between two such writers, is a race (:func:`is_race`): the page,
or the item, is stored again (a new SAVEPOINT), up to :data:`RACE_RETRIES` times, and then
finds the row the other sync committed (PostgreSQL's default READ COMMITTED gives every
statement a fresh snapshot; SQLite serializes writers) and merges into it, as a copy
stored a second later would. Only a duplicate key still refused after those retries is
quarantined, with a reason that says so; a deadlock that persists fails the page.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crmsync.connectors.base import Change, MailMessage, Page
from crmsync.sync_service.engine.store import PageWriter

log = logging.getLogger(__name__)

#: database errors one item's values can cause
ITEM_ERRORS = (IntegrityError, DataError)
#: longest database message kept in a quarantine reason (the whole one goes to detail)
MAX_REASON = 500
#: how many more times a page or an item is stored after a race (:func:`is_race`)
RACE_RETRIES = 3
#: PostgreSQL's SQLSTATEs for a race: unique_violation, deadlock_detected,
#: serialization_failure
_RACE_STATES = frozenset({"23505", "40P01", "40001"})
#: SQLite's extended codes for a duplicate key (there are no deadlocks: writers take turns)
_SQLITE_DUPLICATE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})

NewWriter = Callable[[], PageWriter]
RunHooks = Callable[[PageWriter], None]


def store_page(session: Session, page: Page, new_writer: NewWriter, run_hooks: RunHooks
               ) -> Counter[str]:
    """Apply ``page`` and run the page hooks on it, in ``session``'s transaction.

    :param new_writer: returns a fresh :class:`PageWriter` on ``session``.
    :param run_hooks: runs the page hooks on a writer that applied (part of) the page.
    :returns: what was done, summed over the page.
    :raises: database errors that are not :data:`ITEM_ERRORS`, the session rolled back.
    """
    for tries_left in range(RACE_RETRIES, -1, -1):
        try:
            return _apply(session, page, new_writer, run_hooks)
        except DBAPIError as exc:
            if not isinstance(exc, ITEM_ERRORS) and not (is_race(exc) and tries_left):
                raise
            session.rollback()
            if not (is_race(exc) and tries_left):
                log.warning("%s: the database refused a page of %d items (%s); storing them "
                            "one by one", page.resource, len(page.changes), _first_line(exc))
                break
            log.info("%s: another sync stored the same records at the same moment (%s); "
                     "storing the page again", page.resource, _first_line(exc))
    return _apply_alone(session, page, new_writer, run_hooks)


def is_race(exc: DBAPIError) -> bool:
    """Whether ``exc`` is a duplicate key or a deadlock: what two writers storing the
    same records at once run into, gone when the loser stores its records again."""
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorname", "") in _SQLITE_DUPLICATE
    return getattr(orig, "sqlstate", None) in _RACE_STATES


def _apply(session: Session, page: Page, new_writer: NewWriter, run_hooks: RunHooks
           ) -> Counter[str]:
    writer = new_writer()
    writer.apply(page)
    run_hooks(writer)
    session.flush()  # the database says no here, not later at commit
    return writer.counters


def _apply_alone(session: Session, page: Page, new_writer: NewWriter, run_hooks: RunHooks
                 ) -> Counter[str]:
    """Apply each change of ``page`` in its own SAVEPOINT; quarantine what still fails.

    A page is matched as a whole (a reply listed before its parent threads onto it), so
    mail skipped alone is applied again while the previous round stored something new.
    """
    _open_transaction(session)
    counters: Counter[str] = Counter()
    waiting = list(page.changes)
    while waiting:
        stored_any = False
        skipped: list[tuple[Change, Counter[str]]] = []
        for change in waiting:
            done = _apply_one(session, page, change, new_writer, run_hooks)
            if isinstance(change, MailMessage) and _only_skipped(done):
                skipped.append((change, done))
                continue
            counters += done
            stored_any |= bool(done["captured"] or done["merged"])
        if not stored_any:
            for _, done in skipped:
                counters += done
            break
        waiting = [change for change, _ in skipped]
    return counters


def _apply_one(session: Session, page: Page, change: Change, new_writer: NewWriter,
               run_hooks: RunHooks) -> Counter[str]:
    """Store ``change`` alone in a SAVEPOINT, again after a race; else quarantine it."""
    alone = Page(page.resource, [change], page.cursor, page.resync)
    for tries_left in range(RACE_RETRIES, -1, -1):
        try:
            with session.begin_nested():
                return _apply(session, alone, new_writer, run_hooks)
        except DBAPIError as exc:
            if not is_race(exc):
                if isinstance(exc, ITEM_ERRORS):
                    return _quarantine(session, page, change, new_writer, exc,
                                       f"the database refused it: {_first_line(exc)}")
                raise
            if not tries_left:
                if not isinstance(exc, ITEM_ERRORS):
                    raise  # a deadlock at every try: the page fails, to be retried whole
                return _quarantine(
                    session, page, change, new_writer, exc,
                    f"the database refused it as a duplicate {RACE_RETRIES + 1} times (a "
                    "copy another sync stored at the same moment is merged into on a "
                    f"retry, so this one was not): {_first_line(exc)}")
            log.info("%s: %s met another sync's rows (%s); storing it again",
                     page.resource, change.item_id, _first_line(exc))
    raise AssertionError("unreachable: the last try returns or raises")


def _quarantine(session: Session, page: Page, change: Change, new_writer: NewWriter,
                exc: DBAPIError, reason: str) -> Counter[str]:
    reason = reason[:MAX_REASON]
    log.warning("%s: %s quarantined: %s", page.resource, change.item_id, reason)
    writer = new_writer()
    writer.quarantine_change(change, reason, str(exc.orig))
    session.flush()
    return writer.counters


def _only_skipped(counters: Counter[str]) -> bool:
    return not (counters["captured"] or counters["merged"]) and any(
        key.startswith("skipped") for key in counters)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig).strip()
    return f"{type(exc.orig).__name__}: {text.splitlines()[0] if text else ''}"


def _open_transaction(session: Session) -> None:
    """Begin the database transaction, holding SQLite's write lock, before the first
    SAVEPOINT.

    pysqlite begins its transaction lazily, at the first write: a SAVEPOINT sent before
    it would itself be the outermost transaction, and releasing it would commit the
    item without its cursor. IMMEDIATE, because a deferred transaction reads from the
    snapshot of its first SELECT: once another writer commits, its first write fails at
    once with "database is locked" (the busy timeout cannot help a stale snapshot).
    """
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    if isinstance(dbapi, sqlite3.Connection) and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
