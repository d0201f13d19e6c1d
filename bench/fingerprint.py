"""A fingerprint of the stored CRM after a backfill: did a change alter what crmsync stores?

A refactoring must leave every stored row as it was. This runs the headline benchmark's
first sync (:mod:`bench.imap_ingest`'s generated mailbox, ``crmsync sync --once`` into a
fresh SQLite CRM) and prints one SHA-256 over a canonical dump of the database, plus a
digest per table, so two commits fed the same mailbox can be compared:

    python -m bench.fingerprint --messages 20000          # prints "fingerprint: <sha256>"
    python -m bench.fingerprint --database path/to/crmsync.db   # an existing database

What is hashed: every row of every table, with what differs between two equal runs left
out — surrogate ids (``id``), which are replaced, where a row points at an activity, by
that activity's dedupe key; the moment a row was written (``created_at``, leases,
claims); and random secrets (sealed credentials, key hashes). Everything a user sees is
in: activities, participants, links with reason and confidence, sources with flags,
thread keys, suggestions, cases, quarantine (raw bytes by their SHA-256), cursors and
counters.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

#: columns whose values depend on when or by whom a run happened, not on what it stored
VOLATILE = frozenset({
    "id", "created_at", "updated_at", "sent_at", "removed_at", "fulfilled_at",
    "last_success_at", "last_sync_at", "lease_owner", "lease_expires_at", "lease_token",
    "claimed_by", "claim_expires_at", "secret", "key_hash", "token_hash", "last_used_at",
})
#: the generated mail's first date: fixed, so two runs store the same times
START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
#: columns that hold what a server numbers by itself (UIDVALIDITY in cursors and item ids,
#: the port in settings); elsewhere the same digits are mail text and stay as they are
SERVER_NUMBERED = frozenset({"cursor", "settings", "item_id"})
#: tables of the process, not of the CRM
SKIPPED = frozenset({"alembic_version", "api_keys", "audit_events", "sqlite_sequence"})


def table_rows(db: sqlite3.Connection, table: str, activity_keys: dict[int, str],
               mask: re.Pattern[str] | None) -> list[str]:
    """Return the table's rows as canonical JSON lines, sorted.

    :param mask: what differs between two servers holding the same mail (UIDVALIDITY,
        the port), replaced by ``*`` in the :data:`SERVER_NUMBERED` columns.
    """
    columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
    kept = [c for c in columns if c not in VOLATILE]
    rows = []
    for values in db.execute(f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in kept)} '
                             f'FROM "{table}"'):
        row = {}
        for column, value in zip(kept, values, strict=True):
            if column == "activity_id" and value is not None:
                value = activity_keys.get(value, f"missing:{value}")
            if isinstance(value, bytes):
                value = "sha256:" + hashlib.sha256(value).hexdigest()
            elif isinstance(value, str) and mask is not None and column in SERVER_NUMBERED:
                value = mask.sub("*", value)
            row[column] = value
        rows.append(json.dumps(row, sort_keys=True, default=str))
    return sorted(rows)


def fingerprint(path: Path) -> tuple[str, dict[str, tuple[int, str]]]:
    """Return the database's fingerprint and (rows, digest) per table."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        activity_keys = dict(db.execute("SELECT id, dedupe_key FROM activities"))
        mask = server_mask(db)
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if name not in SKIPPED]
        whole = hashlib.sha256()
        per_table = {}
        for table in tables:
            digest = hashlib.sha256()
            rows = table_rows(db, table, activity_keys, mask)
            for line in rows:
                digest.update(line.encode() + b"\n")
            per_table[table] = (len(rows), digest.hexdigest())
            whole.update(f"{table}\t{digest.hexdigest()}\n".encode())
        return whole.hexdigest(), per_table
    finally:
        db.close()


def server_mask(db: sqlite3.Connection) -> re.Pattern[str] | None:
    """Return a pattern of the values a new server gives the same mail: its UIDVALIDITY
    numbers (in cursors and item ids) and its port (in the mailbox settings)."""
    values: set[str] = set()
    for (cursor,) in db.execute("SELECT cursor FROM sync_states WHERE cursor IS NOT NULL"):
        values.update(re.findall(r'"uidvalidity":\s*(\d+)', cursor))
    for (settings,) in db.execute("SELECT settings FROM mailboxes"):
        values.update(re.findall(r'"port":\s*(\d+)', settings or ""))
    if not values:
        return None
    return re.compile(r"\b(" + "|".join(sorted(values, key=len, reverse=True)) + r")\b")


def backfill(messages: int, workdir: Path) -> Path:
    """Run the benchmark's first sync of ``messages`` mails; return the database's path."""
    from bench.imap_ingest import Bench, parse_args
    from bench.mailgen import MailFactory

    args = parse_args(["--messages", str(messages), "--tools", "crmsync"])
    bench = Bench(args, workdir)
    bench.factory = MailFactory(bench.corpus, start=START)
    try:
        bench.fill()
        bench.prepare("crmsync", 0)
        bench.sync("crmsync", "initial")
    finally:
        bench.stop()
    return workdir / "crmsync-0" / "crmsync.db"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench.fingerprint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--database", type=Path, help="fingerprint this SQLite file instead")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here")
    args = parser.parse_args(argv)
    if args.database:
        path = args.database
    elif args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        path = backfill(args.messages, args.workdir)
    else:
        tmp = tempfile.mkdtemp(prefix="crmsync-fingerprint-")
        path = backfill(args.messages, Path(tmp))
    whole, per_table = fingerprint(path)
    for table, (count, digest) in per_table.items():
        print(f"{table:<28} {count:>8} rows  {digest[:16]}")
    print(f"fingerprint: {whole}", file=sys.stdout)
    return whole


if __name__ == "__main__":
    main()
