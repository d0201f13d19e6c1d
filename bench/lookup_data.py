"""The generated CRM of bench/lookup.py: rows, and loaders for SQLite and PostgreSQL.

The rows go straight into the schema ``crmsync db upgrade`` made, with the secondary
indexes dropped during the load and rebuilt after (as a bulk import would), and
statistics gathered (``ANALYZE``) so both planners see the data they will query.
Each activity has a ``from`` participant and a link to its contact and one to that
contact's account; the first :data:`BUSY_SHARE` of activities (the newest) belong to
contact 0 and its account ``acc-0``, the busy one.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import mailgen

BUSY_SHARE = 0.01
CHUNK = 100_000
TABLES = ("accounts", "account_domains", "contacts", "contact_emails", "opportunities",
          "activities", "activity_links", "activity_participants")

Rows = tuple[str, tuple[str, ...], Iterable[tuple[object, ...]]]


def address_of(i: int, accounts: int) -> str:
    return f"c{i}@a{i % accounts}.example"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def records(args: argparse.Namespace, now: datetime) -> Iterator[Rows]:
    """Yield ``(table, columns, rows)`` for everything but the activities."""
    n_acc, n_con = args.accounts, args.contacts
    yield "users", ("id", "email", "name", "role"), [(1, mailgen.OWNER, "Rita Owner", "rep")]
    yield ("accounts", ("id", "external_id", "name", "owner_id"),
           ((i + 1, f"acc-{i}", f"Account {i}", 1) for i in range(n_acc)))
    yield ("account_domains", ("account_id", "domain"),
           ((i + 1, f"a{i}.example") for i in range(n_acc)))
    yield ("contacts", ("id", "external_id", "first_name", "last_name", "phone", "title",
                        "account_id"),
           ((i + 1, f"c-{i}", "Ana", f"Ruiz{i}", "", "Buyer", i % n_acc + 1)
            for i in range(n_con)))
    yield ("contact_emails", ("contact_id", "address"),
           ((i + 1, address_of(i, n_acc)) for i in range(n_con)))
    yield ("opportunities", ("external_id", "name", "account_id", "stage", "amount",
                             "is_closed", "owner_id"),
           ((f"opp-{i}", f"Deal {i}", i % n_acc + 1, "Proposal", 1000, i % 4 == 0, 1)
            for i in range(args.opportunities)))


def activities(args: argparse.Namespace, now: datetime) -> Iterator[list[Rows]]:
    """Yield the activities, participants and links in chunks of :data:`CHUNK`."""
    rng = random.Random(5)
    n_acc, n_con, busy = args.accounts, args.contacts, int(args.activities * BUSY_SHARE)
    created = _stamp(now)
    for start in range(0, args.activities, CHUNK):
        ids = range(start + 1, min(args.activities, start + CHUNK) + 1)
        contact = [0 if i <= busy else rng.randrange(n_con) for i in ids]
        when = {i: _stamp(now - timedelta(minutes=i)) for i in ids}
        yield [
            ("activities", ("id", "kind", "dedupe_key", "internet_message_id", "conversation",
                            "subject", "occurred_at", "direction", "created_at"),
             [(i, "email", f"<a{i}@bench>", f"<a{i}@bench>", f"conv{i // 3}", f"Subject {i}",
               when[i], "inbound", created) for i in ids]),
            ("activity_participants", ("activity_id", "address", "name", "role", "contact_id"),
             [(i, address_of(c, n_acc), "Ana", "from", c + 1)
              for i, c in zip(ids, contact, strict=True)]),
            ("activity_links", ("activity_id", "contact_id", "account_id", "reason",
                                "confidence", "source", "created_at", "occurred_at"),
             [row for i, c in zip(ids, contact, strict=True)
              for row in ((i, c + 1, None, "bench", 1.0, "auto", created, when[i]),
                          (i, None, c % n_acc + 1, "bench", 1.0, "auto", created, when[i]))]),
        ]


def _all_rows(args: argparse.Namespace) -> Iterator[Rows]:
    now = datetime.now(UTC).replace(tzinfo=None)
    yield from records(args, now)
    for chunk in activities(args, now):
        yield from chunk


def load_sqlite(path: Path, args: argparse.Namespace) -> None:
    """Fill the empty schema at ``path`` (journal off: a failed load is regenerated)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({','.join('?' * len(TABLES))})", TABLES).fetchall()
    for name, _sql in indexes:
        db.execute(f"DROP INDEX {name}")
    for table, columns, rows in _all_rows(args):
        db.executemany(f"INSERT INTO {table} ({','.join(columns)}) "
                       f"VALUES ({','.join('?' * len(columns))})", rows)
    db.commit()
    for _name, sql in indexes:
        db.execute(sql)
    db.execute("ANALYZE")
    db.commit()
    db.close()


def load_postgresql(dsn: str, args: argparse.Namespace) -> None:
    """Fill the empty schema at ``dsn`` with COPY (triggers and FK checks off meanwhile)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        indexes = db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)", (list(TABLES),)
        ).fetchall()
        for name, _sql in indexes:
            db.execute(f'DROP INDEX "{name}"')
        db.execute("SET session_replication_role = replica")
        for table, columns, rows in _all_rows(args):
            with db.cursor().copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        db.execute("SET session_replication_role = DEFAULT")
        db.execute("SET maintenance_work_mem = '512MB'")
        for _name, sql in indexes:
            db.execute(sql)
        for table in TABLES:
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                       f" (SELECT coalesce(max(id), 1) FROM {table}))")
        db.execute("VACUUM ANALYZE")
