"""The CRM at scale: sender lookup and timeline through the HTTP API, and matching alone.

Generates a CRM of ``--contacts`` contacts (default 1,000,000), ``--accounts`` accounts
(100,000), ``--opportunities`` (200,000) and ``--activities`` (5,000,000, each with a
participant and links to its contact and account; one busy account holds 1% of them;
see ``bench/lookup_data.py``) on SQLite or, with ``--database postgresql``, on a private
PostgreSQL (tests/servers/postgres.py). Then:

* ``crmsync serve`` answers ``GET /api/v1/lookup?address=`` for random contacts
  (p50/p99 over keep-alive HTTP) and the busy account's timeline;
* the SQL statements per request are counted in-process on this database and on
  one 100 times smaller: they must be equal (no N+1 as data grows); ``--explain``
  prints the plan of each statement that reads ``activity_links``;
* the matching stage alone (``decide_mail`` against the loaded directory) in
  messages/s.

SQLite databases are kept in ``--workdir`` (default ``$TMPDIR/crmsync-lookup-<scale>``)
and reused by the next run of the same size after ``crmsync db upgrade``; PostgreSQL is
generated afresh each run. The last line is ``lookup p99: X.X ms``.
Run: ``python -m bench.lookup [--scale 0.1] [--database postgresql]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, event

from bench import harness, mailgen
from bench.latency import Served
from bench.lookup_data import BUSY_SHARE, address_of, load_postgresql, load_sqlite

if TYPE_CHECKING:
    from tests.servers.postgres import PostgresServer


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
    parser.add_argument("--workdir", type=Path,
                        help="where the generated databases are kept between runs "
                             "(default: $TMPDIR/crmsync-lookup-<scale>)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--explain", action="store_true",
                        help="print the plan of each statement reading activity_links")
    parser.add_argument("--fresh", action="store_true",
                        help="generate into a temporary directory removed afterwards")
    args = parser.parse_args(argv)
    for name in ("contacts", "accounts", "opportunities", "activities"):
        setattr(args, name, max(10, int(getattr(args, name) * args.scale)))
    return args


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


def query_counts(url: str, key: str, paths: list[str], explain: bool = False) -> list[int]:
    """Return the SQL statements each path runs, served in-process by the Flask app.

    With ``explain``, print the plan of each statement that reads ``activity_links``.
    """
    from crmsync.sync_service.startup import build_services
    from crmsync.sync_service.web.app import create_app

    services = build_services({"DATABASE_URL": url, "SECRET_KEY": "bench-key"})
    seen: list[tuple[str, object]] = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, params, *_: seen.append((statement, params)))
    app = create_app(services=services)
    counts = []
    try:
        with app.test_client() as client:
            for path in paths:
                seen.clear()
                response = client.get(path, headers={"Authorization": f"Bearer {key}"})
                assert response.status_code == 200, response.data[:300]
                counts.append(len(seen))
                if explain:
                    _explain(services.engine, path, list(seen))
    finally:
        services.dispose()
    return counts


def _explain(engine: Engine, path: str, statements: list[tuple[str, object]]) -> None:
    """Print the plans of ``statements`` that read ``activity_links``, as the driver ran them."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        for statement, params in statements:
            if "activity_links" not in statement:
                continue
            cursor.execute(prefix + statement, params)
            print(f"\n# plan of a statement of GET {path} ({engine.dialect.name}):")
            # the last column is the plan line on both (SQLite: id, parent, notused, detail)
            print("\n".join(f"#   {row[-1]}" for row in cursor.fetchall()))


def matching_rate(url: str, messages: int = 20_000) -> tuple[float, float]:
    """Return (seconds to load the directory, messages/s of ``decide_mail`` alone)."""
    from crmsync.connectors.base import MailMessage
    from crmsync.crm.directory import load_directory
    from crmsync.mapping import decide_mail
    from crmsync.sync_service.startup import build_services

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


def _upgrade(env: dict[str, str], workdir: Path) -> None:
    run = harness.measure(harness.crmsync_command("db", "upgrade"), env=env, cwd=workdir)
    if run.returncode:
        raise RuntimeError(run.output)


def _counts_tag(args: argparse.Namespace) -> str:
    return "-".join(str(getattr(args, k)) for k in (
        "contacts", "accounts", "opportunities", "activities"))


def _env(url: str) -> dict[str, str]:
    return {"CRMSYNC_DATABASE_URL": url, "CRMSYNC_SECRET_KEY": "bench-key"}


def _with_key(env: dict[str, str]) -> dict[str, str]:
    key = harness.measure(harness.crmsync_command("apikey", "create", mailgen.OWNER), env=env)
    return {**env, "API_KEY": key.output.strip().splitlines()[-1]}


def _build_sqlite(workdir: Path, args: argparse.Namespace, tag: str) -> dict[str, str]:
    """Return the env of a generated SQLite CRM of ``args``' size in ``workdir``.

    The file is named by its counts and kept: generating 5M activities takes minutes, so a
    rerun with the same ``--workdir`` reuses it and only runs ``db upgrade`` (new
    migrations, e.g. indexes, apply to the cached data). A half-written file never gets
    the final name.
    """
    path = workdir / f"crm-{_counts_tag(args)}.db"
    env = _env(f"sqlite:///{path}")
    started = time.perf_counter()
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _upgrade(_env(f"sqlite:///{partial}"), workdir)
        load_sqlite(partial, args)
        partial.rename(path)
        print(f"# {tag}: generated in {time.perf_counter() - started:.0f} s, "
              f"{path.stat().st_size / 1e9:.2f} GB", flush=True)
    else:
        _upgrade(env, workdir)
        print(f"# {tag}: reused {path.name} (db upgrade {time.perf_counter() - started:.1f} s)",
              flush=True)
    return _with_key(env)


def _build_postgresql(server: PostgresServer, workdir: Path, args: argparse.Namespace, tag: str
                      ) -> dict[str, str]:
    """Return the env of a CRM of ``args``' size generated into a new PostgreSQL database."""
    started = time.perf_counter()
    env = _env(server.create_database(f"crm_{tag}"))
    _upgrade(env, workdir)
    load_postgresql(server.dsn(f"crm_{tag}"), args)
    print(f"# {tag}: generated in {time.perf_counter() - started:.0f} s (PostgreSQL)",
          flush=True)
    return _with_key(env)


@contextlib.contextmanager
def databases(args: argparse.Namespace, small: argparse.Namespace,
              workdir: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Yield the env of the CRM at ``args``' size and of the one at ``small``'s."""
    if args.database == "sqlite":
        yield _build_sqlite(workdir, args, "full"), _build_sqlite(workdir, small, "small")
        return
    from tests.servers.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield (_build_postgresql(server, workdir, args, "full"),
               _build_postgresql(server, workdir, small, "small"))
    finally:
        server.stop()


def _paths(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    rng = random.Random(9)
    lookups = [f"/api/v1/lookup?address={address_of(rng.randrange(args.contacts), args.accounts)}"
               for _ in range(args.requests)]
    return lookups, ["/api/v1/timeline/account/acc-0"] * max(20, args.requests // 10)


def served_latencies(env: dict[str, str], workdir: Path, lookups: list[str],
                     timelines: list[str]) -> tuple[list[float], list[float]]:
    """Return seconds per lookup and per timeline from a ``crmsync serve`` on ``env``."""
    served = Served(workdir, {**env, "CRMSYNC_POLL_SECONDS": "3600"})
    served.key = env["API_KEY"]
    try:
        served.wait_ready()
        http_latencies(served, lookups[:50])  # warm the page cache and the pool
        return http_latencies(served, lookups), http_latencies(served, timelines)
    finally:
        served.stop()


def run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    small = argparse.Namespace(**{**vars(args), **{k: max(10, getattr(args, k) // 100) for k in (
        "contacts", "accounts", "opportunities", "activities")}})
    lookups, timelines = _paths(args)
    with databases(args, small, workdir) as (env, small_env):
        look, line = served_latencies(env, workdir, lookups, timelines)
        url, small_url = env["CRMSYNC_DATABASE_URL"], small_env["CRMSYNC_DATABASE_URL"]
        probe = [f"/api/v1/lookup?address={address_of(1, args.accounts)}", timelines[0]]
        counts = query_counts(url, env["API_KEY"], probe, explain=args.explain)
        small_probe = [f"/api/v1/lookup?address={address_of(1, small.accounts)}", timelines[0]]
        small_counts = query_counts(small_url, small_env["API_KEY"], small_probe)
        loaded, rate = matching_rate(url, args.match_messages)
    return report(args, look, line, (counts, small_counts), (loaded, rate))


def report(args, look, line, counts, matching) -> dict[str, float]:
    ms = 1000
    print(f"\nscale: {args.contacts:,} contacts, {args.accounts:,} accounts, "
          f"{args.opportunities:,} opportunities, {args.activities:,} activities "
          f"({args.database})")
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
    if args.fresh:
        with tempfile.TemporaryDirectory(prefix="crmsync-lookup-") as tmp:
            return run(args, Path(tmp))
    workdir = args.workdir or Path(tempfile.gettempdir()) / f"crmsync-lookup-{args.scale:g}"
    workdir.mkdir(parents=True, exist_ok=True)
    return run(args, workdir)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
