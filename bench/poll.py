"""crmsync's polls inside a long-running process, as ``crmsync serve`` runs them.

The CLI's re-syncs (``crmsync sync --once``) include the Python start, the imports and
the database setup; a running service pays those once. This process does that set-up
first (untimed), then times one sync that picks up the new mail waiting on the server
(the benchmark APPENDs it just before) and ``repeat`` no-change polls after it. Each
sync is the service's: lease, connect and log in, SELECT, fetch, match, store, commit.

Run: ``python -m bench.poll --mailbox bench [--repeat 20]`` with the crmsync
environment (``CRMSYNC_DATABASE_URL`` ...) of the benchmark's CRM.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping

from sqlalchemy import text

from crmsync.connectors.registry import load_connector_class
from crmsync.sync_service.engine.run import SyncReport, sync_mailbox
from crmsync.sync_service.startup import build_services

#: counters that count messages (the skip counters are ``skipped: <reason>``)
MESSAGE_OUTCOMES = frozenset({"captured", "merged", "quarantined"})


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m bench.poll", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailbox", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    services = build_services()
    try:
        # What a service has done before its first poll: imports, hooks, a DB connection.
        load_connector_class("imap")
        _ = services.page_hooks
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        started = time.perf_counter()
        first = _checked(sync_mailbox(services, args.mailbox))
        new_wall = time.perf_counter() - started
        walls = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            report = _checked(sync_mailbox(services, args.mailbox))
            walls.append(time.perf_counter() - started)
            if sum(report.counters.values()):
                raise RuntimeError(f"not a no-change poll: {report}")
    finally:
        services.dispose()
    new_count = messages_in(first.counters)
    numbers = {"new": new_wall, "new_count": float(new_count),
               "median": statistics.median(walls), "max": max(walls)}
    print(f"in-process: +{new_count} new {new_wall:.2f} s; "
          f"no-change poll median {numbers['median'] * 1000:.1f} ms, "
          f"max {numbers['max'] * 1000:.1f} ms over {args.repeat}")
    return numbers


def messages_in(counters: Mapping[str, int]) -> int:
    """Return how many messages a sync handled: its captured, merged, quarantined and
    skipped counts (not ``rethreaded``, which counts earlier activities re-evaluated)."""
    return sum(n for kind, n in counters.items()
               if kind in MESSAGE_OUTCOMES or kind.startswith("skipped"))


def _checked(report: SyncReport) -> SyncReport:
    if report.status != "ok":
        raise RuntimeError(f"sync failed: {report}")
    return report


if __name__ == "__main__":
    main()
