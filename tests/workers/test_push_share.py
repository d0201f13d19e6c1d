"""Push at scale: the workers share the mailboxes' watches (IMAP IDLE/NOTIFY) out.

Each ``crmsync worker`` watches at most ``PUSH_WATCHES_PER_WORKER`` mailboxes, each
under a watch lease; a change queues the mailbox's sync as a task. A worker killed with
kill -9 leaves its watches to the workers that have room. The watch leases are sampled
every 100 ms all along: no worker ever holds more than its bound, and a mailbox changes
watcher only when its watcher died.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import ActivitySource, Mailbox
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import make_mail
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.workers.workers import broker_url, flush, queued, start_worker, stop_worker, wait_for

BOUND = 3
#: 2 * BOUND + 2: two workers leave two mailboxes unwatched
MAILBOXES = 2 * BOUND + 2
WATCH_SECONDS = 3
ENV = {"CRMSYNC_PUSH_WATCHES_PER_WORKER": str(BOUND),
       "CRMSYNC_PUSH_WATCH_SECONDS": str(WATCH_SECONDS),
       "CRMSYNC_PUSH_IDLE_SECONDS": "5"}
#: a pushed mail must be in the CRM this soon (the queue, a worker's sync)
PUSH_SECONDS = 10


@pytest.fixture
def pg_cli(postgres: PostgresServer, redis: RedisServer,
           request: pytest.FixtureRequest) -> Cli:
    broker = broker_url(redis)
    flush(broker)
    url = postgres.create_database(f"p{os.getpid()}_{request.node.name[:40].lower()}")
    runner = Cli(url, env={"CRMSYNC_BROKER_URL": broker})
    runner("db", "upgrade")
    load_sample_crm(runner)
    return runner


class WatchSampler(threading.Thread):
    """Read every mailbox's live watch lease every 100 ms."""

    def __init__(self, cli: Cli) -> None:
        super().__init__(daemon=True)
        self.cli = cli
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.now: dict[str, str] = {}  # mailbox -> its watcher, at the last sample
        self.most: Counter[str] = Counter()  # watcher -> the most it held at once
        self.handovers: list[tuple[str, str, str]] = []  # (mailbox, from, to)
        self.samples = 0

    def run(self) -> None:
        last: dict[str, str] = {}
        with self.cli.session() as session:
            while not self.stop.wait(0.1):
                rows = session.execute(select(Mailbox.name, Mailbox.watch_owner,
                                              Mailbox.watch_expires_at)).all()
                session.rollback()  # a fresh snapshot next time
                now = datetime.now(UTC)
                live = {name: owner for name, owner, until in rows
                        if owner and until and until > now}
                with self.lock:
                    for name, owner in live.items():
                        if last.get(name, owner) != owner:
                            self.handovers.append((name, last[name], owner))
                    last.update(live)
                    self.now = live
                    for owner, count in Counter(live.values()).items():
                        self.most[owner] = max(self.most[owner], count)
                    self.samples += 1

    def watchers(self) -> dict[str, str]:
        with self.lock:
            return dict(self.now)


def owner_of(process: object) -> str:
    """The watch owner a worker process writes (mailboxes/leases.py worker_id)."""
    return f"{socket.gethostname()}:{process.pid}"  # type: ignore[attr-defined]


def stored(cli: Cli, name: str) -> int:
    with cli.session() as session:
        return session.scalar(select(func.count()).select_from(ActivitySource)
                              .join(Mailbox).where(Mailbox.name == name)) or 0


def pushed_within(cli: Cli, server: DovecotServer, name: str, n: int) -> float:
    """Append mail ``n`` to mailbox ``name``; return the seconds until it is stored."""
    before = stored(cli, name)
    started = time.monotonic()
    server.append(name, "INBOX", make_mail(n))
    wait_for(lambda: stored(cli, name) > before, PUSH_SECONDS, f"mail {n} pushed to {name}")
    return time.monotonic() - started


def test_workers_share_the_watches_and_take_a_dead_workers_over(
        pg_cli: Cli, dovecot: DovecotServer, tmp_path: Path) -> None:
    # Two workers watch BOUND mailboxes each of 2 * BOUND + 2; a mail to a watched one
    # arrives within seconds, one to an unwatched one waits for the poll. A third worker
    # takes the unwatched two; kill -9 of the first hands one of its watches to the
    # third (its bound) within the watch lease, and mail to it still arrives.
    names = [add_mailbox(pg_cli, dovecot, new_user(dovecot)) for _ in range(MAILBOXES)]
    broker = pg_cli.env["CRMSYNC_BROKER_URL"]
    sampler = WatchSampler(pg_cli)
    sampler.start()
    first = start_worker(pg_cli, tmp_path / "first.log", 1, ENV)
    second = start_worker(pg_cli, tmp_path / "second.log", 1, ENV)
    third = None
    try:
        with pg_cli.session() as session:
            def settled() -> bool:
                synced = session.scalar(select(func.count()).select_from(Mailbox)
                                        .where(Mailbox.last_sync_at.is_not(None)))
                session.rollback()
                return (synced == MAILBOXES and queued(broker) == 0
                        and len(sampler.watchers()) == 2 * BOUND)
            wait_for(settled, 30, "the first syncs done and 2 * BOUND mailboxes watched")
        time.sleep(WATCH_SECONDS + 1)  # the share holds still: renewed, nobody takes more
        watchers = sampler.watchers()
        assert Counter(watchers.values()) == {owner_of(first): BOUND, owner_of(second): BOUND}

        watched = next(name for name in names if watchers.get(name) == owner_of(first))
        unwatched = [name for name in names if name not in watchers]
        dovecot.append(unwatched[0], "INBOX", make_mail(101))
        latency = pushed_within(pg_cli, dovecot, watched, 100)
        assert stored(pg_cli, unwatched[0]) == 0  # no watch, no poll (no serve): not yet

        third = start_worker(pg_cli, tmp_path / "third.log", 1, ENV)
        wait_for(lambda: set(unwatched) <= set(sampler.watchers()), 20,
                 "the third worker to watch the two unwatched mailboxes")
        wait_for(lambda: stored(pg_cli, unwatched[0]) == 1, PUSH_SECONDS,
                 "the mail that came while nobody watched, synced as the watch starts")

        lost = {name for name, owner in sampler.watchers().items() if owner == owner_of(first)}
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(5)
        killed = time.monotonic()
        wait_for(lambda: any(sampler.watchers().get(name) == owner_of(third) for name in lost),
                 WATCH_SECONDS + 2, "the third worker to take one of the dead one's watches")
        takeover = time.monotonic() - killed
        time.sleep(WATCH_SECONDS + 1)  # the dead worker's leases have all lapsed by now
        after = sampler.watchers()
        taken = next(name for name in lost if after.get(name) == owner_of(third))
        latency_after = pushed_within(pg_cli, dovecot, taken, 102)
    finally:
        sampler.stop.set()
        for process in (first, second, third):
            if process is not None:
                stop_worker(process)
    sampler.join()

    # up to each one's bound: the third took one of the three, the second none
    assert Counter(after.values()) == {owner_of(second): BOUND, owner_of(third): BOUND}
    assert len(after) == 2 * BOUND
    assert all(count <= BOUND for count in sampler.most.values()), sampler.most
    handovers = defaultdict(set)
    for _name, old, new in sampler.handovers:
        handovers[old].add(new)
    assert dict(handovers) == {owner_of(first): {owner_of(third)}}
    assert sampler.samples > 50
    print(f"\npushed in {latency:.1f} s; watches taken over {takeover:.1f} s after kill -9,"
          f" then pushed in {latency_after:.1f} s; {sampler.samples} samples")
