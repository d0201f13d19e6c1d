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

One refusal is not the item's fault: two workers storing copies of one mail from two
mailboxes at once (PostgreSQL). Each looks the mail up, finds nothing, inserts it; the
second INSERT waits for the first transaction and then violates the unique key. Such
an item is applied once more before it is quarantined: that lookup now sees the other
commit, and the copy is merged into the stored mail.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from crmsync.connectors.base import Change, MailMessage, Page
from crmsync.sync_service.engine.store import PageWriter

log = logging.getLogger(__name__)

#: database errors one item's values can cause
ITEM_ERRORS = (IntegrityError, DataError)
#: longest database message kept in a quarantine reason (the whole one goes to detail)
MAX_REASON = 500

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
    try:
        return _apply(session, page, new_writer, run_hooks)
    except ITEM_ERRORS as exc:
        log.warning("%s: the database refused a page of %d items (%s); storing them one by one",
                    page.resource, len(page.changes), _first_line(exc))
        session.rollback()
    return _apply_alone(session, page, new_writer, run_hooks)


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
    alone = Page(page.resource, [change], page.cursor, page.resync)
    for attempt in range(2):
        try:
            with session.begin_nested():
                return _apply(session, alone, new_writer, run_hooks)
        except ITEM_ERRORS as exc:
            if attempt == 0 and _stored_meanwhile(exc):
                log.info("%s: %s was stored by another worker meanwhile; merging",
                         page.resource, change.item_id)
                continue
            refused = exc
            break
    reason = f"the database refused it: {_first_line(refused)}"[:MAX_REASON]
    log.warning("%s: %s quarantined: %s", page.resource, change.item_id, reason)
    writer = new_writer()
    writer.quarantine_change(change, reason, str(refused.orig))
    session.flush()
    return writer.counters


def _stored_meanwhile(exc: IntegrityError | DataError) -> bool:
    """Whether ``exc`` is a unique violation on PostgreSQL (SQLSTATE 23505), which a
    concurrent transaction's commit causes (SQLite has one writer: never)."""
    return isinstance(exc, IntegrityError) and getattr(exc.orig, "sqlstate", None) == "23505"


def _only_skipped(counters: Counter[str]) -> bool:
    return not (counters["captured"] or counters["merged"]) and any(
        key.startswith("skipped") for key in counters)


def _first_line(exc: IntegrityError | DataError) -> str:
    text = str(exc.orig).strip()
    return f"{type(exc.orig).__name__}: {text.splitlines()[0] if text else ''}"


def _open_transaction(session: Session) -> None:
    """Begin the database transaction before the first SAVEPOINT.

    pysqlite begins its transaction lazily, at the first write: a SAVEPOINT sent before
    it would itself be the outermost transaction, and releasing it would commit the
    item without its cursor. IMMEDIATE: this transaction writes, so it takes the write
    lock now, waiting ``busy_timeout`` for another writer; a deferred one that read
    first fails at once with "database is locked" when another writer committed since.
    """
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    if isinstance(dbapi, sqlite3.Connection) and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
