"""The distributed engine: `crmsync worker` processes over Redis and PostgreSQL.

L6 scaled down: several workers over many Dovecot mailboxes sharing messages capture
every message once, and no mailbox is ever synced by two workers at once (its lease
owners are sampled every 100 ms, and the runs' own records must not overlap). F1/F2 for
the broker: a worker killed with its pool mid-page leaves its task unacknowledged, Redis
hands it to another worker after the visibility timeout, and the mailbox completes once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import Activity, ActivitySource, Mailbox, QuarantinedItem, SyncRun
from crmsync.sync_service.workers.broker import enqueue_sync
from tests.conftest import Cli
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, TOM, make_mail
from tests.engine.test_crash_resume import _server_truth
from tests.servers.dovecot import DovecotServer
from tests.support import sinks
from tests.support.helpers import Desk
from tests.support.helpers import mail as support_mail
from tests.support.sinks import SmtpSink
from tests.workers.workers import (
    queued,
    start_worker,
    stop_worker,
    wait_for,
    workers,
)

MAILBOXES = 40
#: each mailbox holds mails i..i+MAILS_EACH-1 of one shared pool: neighbours share most
MAILS_EACH = 12


class LeaseSampler(threading.Thread):
    """Read every mailbox's lease owner and token every 100 ms while the workers run."""

    def __init__(self, cli: Cli) -> None:
        super().__init__(daemon=True)
        self.cli = cli
        self.stop = threading.Event()
        #: (mailbox id, token) -> the owners seen holding it
        self.owners: dict[tuple[int, int], set[str]] = defaultdict(set)
        self.samples = 0
        self.most_held = 0

    def run(self) -> None:
        with self.cli.session() as session:
            while not self.stop.wait(0.1):
                rows = session.execute(
                    select(Mailbox.id, Mailbox.lease_owner, Mailbox.lease_token)).all()
                session.rollback()  # a fresh snapshot next time
                held = [row for row in rows if row.lease_owner]
                for mailbox_id, owner, token in held:
                    self.owners[(mailbox_id, token)].add(owner)
                self.samples += 1
                self.most_held = max(self.most_held, len(held))


def _overlapping_runs(cli: Cli) -> list[str]:
    """Runs of one mailbox whose spans overlap: two syncs of it at once."""
    with cli.session() as session:
        runs = session.execute(select(SyncRun.mailbox_id, SyncRun.started_at,
                                      SyncRun.finished_at).order_by(SyncRun.started_at)).all()
    last_end: dict[int, object] = {}
    wrong = []
    for mailbox_id, started, finished in runs:
        if mailbox_id in last_end and started < last_end[mailbox_id]:
            wrong.append(f"mailbox {mailbox_id}: a run started at {started} before "
                         f"the previous ended at {last_end[mailbox_id]}")
        last_end[mailbox_id] = max(finished, last_end.get(mailbox_id, finished))
    return wrong


def test_workers_sync_many_mailboxes_once_each(pg_cli: Cli, broker: str, dovecot: DovecotServer,
                                               tmp_path: Path) -> None:
    # Three workers (two processes each) take 40 mailboxes, each queued twice (a
    # re-delivery): every copy of every message is stored once, and no mailbox is ever
    # synced by two workers at once.
    users = [new_user(dovecot) for _ in range(MAILBOXES)]
    for i, user in enumerate(users):
        dovecot.append_many(user, "INBOX", [make_mail(n, sender=TOM if n % 2 else ANA)
                                            for n in range(i, i + MAILS_EACH)])
    env = {"CRMSYNC_SYNC_BATCH_SIZE": "3", "CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "0"}
    sampler = LeaseSampler(pg_cli)
    started = time.monotonic()
    with workers(pg_cli, 3, tmp_path, concurrency=2, env=env):
        sampler.start()
        names = [add_mailbox(pg_cli, dovecot, user) for user in users]  # each add queues it
        for name in names:
            enqueue_sync({"BROKER_URL": broker}, name)
        with pg_cli.session() as session:
            def all_synced() -> bool:
                done = session.scalar(select(func.count()).select_from(Mailbox)
                                      .where(Mailbox.last_sync_at.is_not(None)))
                session.rollback()
                return done == MAILBOXES and queued(broker) == 0
            wait_for(all_synced, 60, "every mailbox synced and the queue drained")
        sampler.stop.set()
        sampler.join()
    elapsed = time.monotonic() - started

    truth = {(user, item): mid for user in users
             for item, mid in _server_truth(dovecot, user).items()}
    with pg_cli.session() as session:
        stored = session.execute(select(Mailbox.name, ActivitySource.item_id,
                                        Activity.internet_message_id)
                                 .join(ActivitySource, ActivitySource.mailbox_id == Mailbox.id)
                                 .join(Activity)).all()
        activities = session.scalar(select(func.count()).select_from(Activity))
        statuses = set(session.scalars(select(Mailbox.status)))
        quarantined = session.execute(select(QuarantinedItem.reason)).all()
    assert quarantined == []
    assert {(name, item): mid for name, item, mid in stored} == truth
    assert len(stored) == len(truth) == MAILBOXES * MAILS_EACH  # each copy once
    assert activities == len(set(truth.values())) == MAILBOXES + MAILS_EACH - 1  # each mail once
    assert statuses == {"ok"}
    assert _overlapping_runs(pg_cli) == []
    # every fencing token was held by one worker process only, sampled all along
    # The sampler looked often enough to have seen an overlap (each look is one query,
    # slower on a loaded machine; the run history above is the exact check).
    assert sampler.samples >= 30, f"only {sampler.samples} samples in {elapsed:.0f} s"
    assert {key: owners for key, owners in sampler.owners.items() if len(owners) > 1} == {}
    assert sampler.most_held >= 2, "the workers never synced two mailboxes at once"
    print(f"\n{MAILBOXES} mailboxes, 3 workers x 2: {elapsed:.1f} s, {sampler.samples} "
          f"samples, at most {sampler.most_held} mailboxes syncing at once")


def test_a_killed_worker_task_is_redelivered_and_completes_once(
        pg_cli: Cli, broker: str, dovecot: DovecotServer, tmp_path: Path) -> None:
    # kill -9 of a worker with its pool in the middle of a page: the task was never
    # acknowledged, so Redis hands it to the other worker after the visibility timeout,
    # and the mailbox ends with every message stored exactly once.
    user = new_user(dovecot)
    dovecot.append_many(user, "INBOX", [make_mail(n, sender=TOM if n % 3 else ANA)
                                        for n in range(300)])
    env = {"CRMSYNC_SYNC_BATCH_SIZE": "5", "CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "0",
           "CRMSYNC_BROKER_VISIBILITY_SECONDS": "4"}
    first = start_worker(pg_cli, tmp_path / "first.log", 1, env)
    second = None
    try:
        name = add_mailbox(pg_cli, dovecot, user)  # queues its first sync
        with pg_cli.session() as session:
            def stored() -> int:
                count = session.scalar(select(func.count()).select_from(ActivitySource))
                session.rollback()
                return count
            wait_for(lambda: stored() >= 40, 30, "the first worker to store some pages")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(5)
            partial = stored()
            assert partial < 300
            assert queued(broker) == 1  # handed out, never acknowledged
            second = start_worker(pg_cli, tmp_path / "second.log", 1, env)
            wait_for(lambda: stored() == 300 and queued(broker) == 0, 45,
                     "the task re-delivered to the second worker to finish the mailbox")
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    truth = _server_truth(dovecot, user)
    with pg_cli.session() as session:
        stored_ids = dict(session.execute(
            select(ActivitySource.item_id, Activity.internet_message_id).join(Activity)).all())
        activities = session.scalar(select(func.count()).select_from(Activity))
        runs = session.execute(select(SyncRun.status, SyncRun.items)).all()
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
        status = mailbox.status
    assert stored_ids == truth
    assert activities == len(set(truth.values())) == 300
    assert status == "ok"
    # the killed run recorded nothing; the re-delivered one stored the rest
    assert [(s, i) for s, i in runs if s == "ok" and i] == [("ok", 300 - partial)]


@pytest.mark.parametrize("command", [["worker"], ["serve", "--port", "0"]])
def test_sqlite_with_a_broker_is_refused(sqlite_url: str, broker: str,
                                         command: list[str]) -> None:
    # The distributed engine shares its database between machines: SQLite is refused
    # with what to do, before anything starts.
    cli = Cli(sqlite_url, env={"CRMSYNC_BROKER_URL": broker})
    result = cli(*command, ok=False)
    assert result.exit_code == 1
    assert ("the distributed engine needs PostgreSQL: set CRMSYNC_DATABASE_URL to a "
            "postgresql URL, or unset CRMSYNC_BROKER_URL to run in one process") \
        in result.output


def test_a_worker_without_a_broker_says_what_to_set(sqlite_url: str) -> None:
    # `crmsync worker` alone has nothing to take work from: it says so.
    result = Cli(sqlite_url)("worker", ok=False)
    assert result.exit_code == 1
    assert "set CRMSYNC_BROKER_URL" in result.output


smtp = sinks.smtp


def test_a_support_mail_synced_again_opens_one_case_and_one_acknowledgement(
        pg_cli: Cli, broker: str, dovecot: DovecotServer, smtp: SmtpSink,
        tmp_path: Path) -> None:
    # The same sync delivered twice at once, and again after its cursors were dropped
    # (a worker that died after its commit, a resync): the customer's mail opens one
    # case and gets one acknowledgement, however many workers ran it.
    desk = Desk(pg_cli, dovecot, smtp)  # adding it queues its first sync
    desk.receive(support_mail(1))
    with workers(pg_cli, 2, tmp_path, concurrency=2):
        for _ in range(2):
            for _ in range(2):
                enqueue_sync({"BROKER_URL": broker}, desk.name)
            wait_for(lambda: queued(broker) == 0 and len(desk.cases()) == 1
                     and smtp.handler.to(ANA[1]), 45, "the case and its acknowledgement")
            pg_cli("mailbox", "resync", desk.name, "--since", "2026-01-01")
        wait_for(lambda: queued(broker) == 0, 30, "the queue drained")
        time.sleep(1)  # a late duplicate would have been sent by now
    assert len(desk.cases()) == 1
    # the acknowledgement, and the SLA alert (the mail is old), each queued once
    kinds = Counter(row["kind"] for row in desk.outbox())
    assert kinds["ack"] == 1 and set(kinds.values()) == {1}
    assert len(smtp.handler.to(ANA[1])) == 1
