"""The CRM at scale: sender lookup and timeline through the HTTP API, and matching alone.

Generates (on SQLite) a CRM of ``--contacts`` contacts (default 1,000,000),
``--accounts`` accounts (100,000), ``--opportunities`` (200,000) and ``--activities``
(5,000,000, each with a participant and links to its contact and account; one busy
account holds 1% of them), loading rows straight into the schema ``crmsync db
upgrade`` made. Then:

* ``crmsync serve`` answers ``GET /api/v1/lookup?address=`` for random contacts
  (p50/p99 over keep-alive HTTP) and the busy account's timeline;
* the SQL statements per request are counted in-process on this database and on
  one 100 times smaller: they must be equal (no N+1 as data grows);
* the matching stage alone (``decide_mail`` against the loaded directory) in
  messages/s.

The last line is ``lookup p99: X.X ms``. Run: ``python -m bench.lookup [--scale 0.1]``.
"""

from __future__ import annotations

import argparse
import http.client
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event

from bench import harness, mailgen
from bench.latency import Served

BUSY_SHARE = 0.01


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--opportunities", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--match-messages", type=int, default=5000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    for name in ("contacts", "accounts", "opportunities", "activities"):
        setattr(args, name, max(10, int(getattr(args, name) * args.scale)))
    return args


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def address_of(i: int, accounts: int) -> str:
    return f"c{i}@a{i % accounts}.example"


def generate(path: Path, args: argparse.Namespace) -> None:
    """Fill the empty schema at ``path`` with the generated CRM (indexes rebuilt after)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    tables = ("accounts", "account_domains", "contacts", "contact_emails", "opportunities",
              "activities", "activity_links", "activity_participants")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({','.join('?' * len(tables))})", tables).fetchall()
    for name, _sql in indexes:
        db.execute(f"DROP INDEX {name}")
    now = datetime.now(UTC).replace(tzinfo=None)
    n_acc, n_con = args.accounts, args.contacts
    db.execute("INSERT INTO users (id, email, name, role) VALUES (1, ?, 'Rita Owner', 'rep')",
               (mailgen.OWNER,))
    db.executemany("INSERT INTO accounts (id, external_id, name, owner_id) VALUES (?,?,?,1)",
                   ((i + 1, f"acc-{i}", f"Account {i}") for i in range(n_acc)))
    db.executemany("INSERT INTO account_domains (account_id, domain) VALUES (?,?)",
                   ((i + 1, f"a{i}.example") for i in range(n_acc)))
    db.executemany(
        "INSERT INTO contacts (id, external_id, first_name, last_name, phone, title, account_id)"
        " VALUES (?,?,?,?,'','Buyer',?)",
        ((i + 1, f"c-{i}", "Ana", f"Ruiz{i}", i % n_acc + 1) for i in range(n_con)))
    db.executemany("INSERT INTO contact_emails (contact_id, address) VALUES (?,?)",
                   ((i + 1, address_of(i, n_acc)) for i in range(n_con)))
    db.executemany(
        "INSERT INTO opportunities (external_id, name, account_id, stage, amount, is_closed,"
        " owner_id) VALUES (?,?,?,?,?,?,1)",
        ((f"opp-{i}", f"Deal {i}", i % n_acc + 1, "Proposal", 1000, i % 4 == 0)
         for i in range(args.opportunities)))
    _activities(db, args, now)
    db.commit()
    for _name, sql in indexes:
        db.execute(sql)
    db.execute("ANALYZE")
    db.commit()
    db.close()


def _activities(db: sqlite3.Connection, args: argparse.Namespace, now: datetime) -> None:
    rng = random.Random(5)
    n_acc, n_con, busy = args.accounts, args.contacts, int(args.activities * BUSY_SHARE)
    for start in range(0, args.activities, 100_000):
        ids = range(start + 1, min(args.activities, start + 100_000) + 1)
        # The first BUSY_SHARE of activities belong to contact 0 / account 1 (the busy one).
        contact = [0 if i <= busy else rng.randrange(n_con) for i in ids]
        db.executemany(
            "INSERT INTO activities (id, kind, dedupe_key, internet_message_id, conversation,"
            " subject, occurred_at, direction, created_at) VALUES (?,'email',?,?,?,?,?,?,?)",
            ((i, f"<a{i}@bench>", f"<a{i}@bench>", f"conv{i // 3}", f"Subject {i}",
              _stamp(now - timedelta(minutes=i)), "inbound", _stamp(now)) for i in ids))
        db.executemany(
            "INSERT INTO activity_participants (activity_id, address, name, role, contact_id)"
            " VALUES (?,?,'Ana','from',?)",
            ((i, address_of(c, n_acc), c + 1) for i, c in zip(ids, contact, strict=True)))
        db.executemany(
            "INSERT INTO activity_links (activity_id, contact_id, account_id, reason, confidence,"
            " source, created_at) VALUES (?,?,?,'bench',1.0,'auto',?)",
            [row for i, c in zip(ids, contact, strict=True)
             for row in ((i, c + 1, None, _stamp(now)), (i, None, c % n_acc + 1, _stamp(now)))])


def http_latencies(served: Served, paths: list[str]) -> list[float]:
    """GET each path over one keep-alive connection; return seconds per request."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    headers = {"Authorization": f"Bearer {served.key}"}
    out = []
    try:
        for path in paths:
            start = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            out.append(time.perf_counter() - start)
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    finally:
        connection.close()
    return out


def query_counts(url: str, key: str, paths: list[str]) -> list[int]:
    """Return the SQL statements each path runs, served in-process by the Flask app."""
    from crmsync.sync_service.app import create_app
    from crmsync.sync_service.context import build_services

    services = build_services({"DATABASE_URL": url, "SECRET_KEY": "bench-key"})
    counter = [0]
    event.listen(services.engine, "before_cursor_execute", lambda *a: counter.__setitem__(
        0, counter[0] + 1))
    app = create_app(services=services)
    counts = []
    try:
        with app.test_client() as client:
            for path in paths:
                counter[0] = 0
                response = client.get(path, headers={"Authorization": f"Bearer {key}"})
                assert response.status_code == 200, response.data[:300]
                counts.append(counter[0])
    finally:
        services.dispose()
    return counts


def matching_rate(url: str, messages: int = 20_000) -> tuple[float, float]:
    """Return (seconds to load the directory, messages/s of ``decide_mail`` alone)."""
    from crmsync.connectors.base import MailMessage
    from crmsync.crm.directory import load_directory
    from crmsync.mapping import decide_mail
    from crmsync.sync_service.context import build_services

    services = build_services({"DATABASE_URL": url, "SECRET_KEY": "bench-key"})
    try:
        start = time.perf_counter()
        with services.sessions() as session:
            directory = load_directory(session, [mailgen.INTERNAL_DOMAIN])
        loaded = time.perf_counter() - start
    finally:
        services.dispose()
    rng, now = random.Random(3), datetime.now(UTC)
    accounts = len(directory.accounts_by_id)
    contacts = len(directory.contacts_by_address)
    senders = [address_of(rng.randrange(contacts), accounts) for _ in range(messages)]
    mails = [MailMessage(
        item_id=f"1:{n}", folder="INBOX", body_text="hello", attachments=(), size=100,
        received_at=now, flags=(), content_hash=f"{n:064x}",
        headers={"from": f"Ana <{senders[n]}>", "to": mailgen.OWNER,
                 "subject": f"Quote {n}", "message-id": f"<m{n}@bench>",
                 "date": "Mon, 2 Nov 2026 10:00:00 +0000"},
    ) for n in range(messages)]
    start = time.perf_counter()
    for mail in mails:
        decide_mail(mail, directory, now=now)
    return loaded, messages / (time.perf_counter() - start)


def _build(workdir: Path, args: argparse.Namespace, tag: str) -> tuple[str, dict[str, str]]:
    path = workdir / f"crm-{tag}.db"
    env = {"CRMSYNC_DATABASE_URL": f"sqlite:///{path}", "CRMSYNC_SECRET_KEY": "bench-key"}
    if not path.exists():
        for cmd in (["db", "upgrade"],):
            run = harness.measure(harness.crmsync_command(*cmd), env=env, cwd=workdir)
            if run.returncode:
                raise RuntimeError(run.output)
        started = time.perf_counter()
        generate(path, args)
        print(f"# {tag}: generated in {time.perf_counter() - started:.0f} s, "
              f"{path.stat().st_size / 1e9:.2f} GB", flush=True)
    key = harness.measure(harness.crmsync_command("apikey", "create", mailgen.OWNER), env=env)
    env["API_KEY"] = key.output.strip().splitlines()[-1]
    return env["CRMSYNC_DATABASE_URL"], env


def run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    small = argparse.Namespace(**{**vars(args), **{k: max(10, getattr(args, k) // 100) for k in (
        "contacts", "accounts", "opportunities", "activities")}})
    url, env = _build(workdir, args, "full")
    small_url, small_env = _build(workdir, small, "small")
    rng = random.Random(9)
    lookups = [f"/api/v1/lookup?address={address_of(rng.randrange(args.contacts), args.accounts)}"
               for _ in range(args.requests)]
    timelines = ["/api/v1/timeline/account/acc-0"] * max(20, args.requests // 10)
    served = Served(workdir, {**env, "CRMSYNC_POLL_SECONDS": "3600"})
    served.key = env["API_KEY"]
    try:
        served.wait_ready()
        http_latencies(served, lookups[:50])  # warm the page cache and the pool
        look = http_latencies(served, lookups)
        line = http_latencies(served, timelines)
    finally:
        served.stop()
    probe = [f"/api/v1/lookup?address={address_of(1, args.accounts)}", timelines[0]]
    counts = query_counts(url, env["API_KEY"], probe)
    small_probe = [f"/api/v1/lookup?address={address_of(1, small.accounts)}", timelines[0]]
    small_counts = query_counts(small_url, small_env["API_KEY"], small_probe)
    loaded, rate = matching_rate(url, args.match_messages)
    return report(args, look, line, (counts, small_counts), (loaded, rate))


def report(args, look, line, counts, matching) -> dict[str, float]:
    ms = 1000
    print(f"\nscale: {args.contacts:,} contacts, {args.accounts:,} accounts, "
          f"{args.opportunities:,} opportunities, {args.activities:,} activities (SQLite)")
    harness.print_table(
        ["request", "n", "p50 ms", "p99 ms", "SQL statements (this / 1/100 data)"],
        [["GET /lookup?address=", len(look), harness.percentile(look, 0.5) * ms,
          harness.percentile(look, 0.99) * ms, f"{counts[0][0]} / {counts[1][0]}"],
         [f"GET /timeline/account (busy: {int(args.activities * BUSY_SHARE):,} activities)",
          len(line), harness.percentile(line, 0.5) * ms, harness.percentile(line, 0.99) * ms,
          f"{counts[0][1]} / {counts[1][1]}"]])
    print(f"matching stage alone: {matching[1]:,.0f} msgs/s "
          f"(directory of {args.contacts:,} contacts loaded in {matching[0]:.1f} s)")
    p99 = harness.percentile(look, 0.99) * ms
    print(f"lookup p99: {p99:.1f} ms")
    return {"lookup_p50_ms": harness.percentile(look, 0.5) * ms, "lookup_p99_ms": p99,
            "timeline_p50_ms": harness.percentile(line, 0.5) * ms, "match_rate": matching[1],
            "flat_queries": float(counts[0] == counts[1])}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args, args.workdir)
    with tempfile.TemporaryDirectory(prefix="crmsync-lookup-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
