"""Fairness: a big backfill goes slice by slice and never starves other mailboxes' new mail.

A run stops after ``SYNC_RUN_SECONDS`` at a page boundary, its cursor committed, and its
mailbox queues again behind the others; with one worker slot (or serve's one scheduler
thread) a new mail in another mailbox is captured while the backfill is still under
way, and the backfill still ends with every message stored once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bench.harness import mail_owner, maildir_of
from bench.mailgen import write_maildir
from crmsync.crm.models import Activity, ActivitySource, Mailbox, SyncRun
from crmsync.sync_service.triggers.scheduler import Scheduler
from crmsync.sync_service.workers.broker import enqueue_sync
from tests.conftest import Cli, load_sample_crm, make_services
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, BASE, TOM, make_mail
from tests.engine.test_crash_resume import _server_truth
from tests.servers.dovecot import DovecotServer
from tests.workers.workers import queued, wait_for, workers

#: the backfill: at 20 a page and a 0.05 s budget, a few pages a slice however fast the
#: machine (a 0.3 s slice stored 360-520 mails on an idle one: three slices, the backfill)
BIG = 1500
SLICED = {"SYNC_BATCH_SIZE": 20, "FETCH_PROCESS_MIN_MESSAGES": 0, "SYNC_RUN_SECONDS": 0.05}
NEW_MAIL = "<fresh@test.example>"


def _fill(dovecot: DovecotServer) -> tuple[str, str]:
    """A Dovecot user with BIG mails from known contacts, and one with a single mail."""
    big, small = new_user(dovecot), new_user(dovecot)
    # written straight into the Maildir: APPENDs take 5 ms each
    write_maildir(maildir_of(dovecot, big),
                  ((BASE, make_mail(n, sender=TOM if n % 2 else ANA)) for n in range(BIG)),
                  owner=mail_owner())
    dovecot.append(small, "INBOX", make_mail(BIG + 1))
    return big, small


class Progress:
    """Reads, in one session, how far each mailbox got (a fresh snapshot per read)."""

    def __init__(self, session) -> None:
        self.session = session

    def stored(self, name: str) -> int:
        count = self.session.scalar(
            select(func.count()).select_from(ActivitySource).join(Mailbox)
            .where(Mailbox.name == name))
        self.session.rollback()
        return int(count)

    def has(self, message_id: str) -> bool:
        found = self.session.scalar(
            select(func.count()).select_from(Activity)
            .where(Activity.internet_message_id == message_id))
        self.session.rollback()
        return bool(found)


def _assert_backfilled_once(cli: Cli, dovecot: DovecotServer, user: str) -> None:
    """Every message of ``user`` stored once; one run completed it, after many slices."""
    truth = _server_truth(dovecot, user)
    with cli.session() as session:
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == user)).one()
        stored = dict(session.execute(
            select(ActivitySource.item_id, Activity.internet_message_id).join(Activity)
            .where(ActivitySource.mailbox_id == mailbox.id)).all())
        runs = [tuple(run) for run in session.execute(
            select(SyncRun.status, SyncRun.items).where(SyncRun.mailbox_id == mailbox.id)
            .order_by(SyncRun.id))]
        status, last_sync = mailbox.status, mailbox.last_sync_at
    assert stored == truth and len(truth) == BIG
    assert status == "ok" and last_sync is not None
    # completed once, at the end of its slices; a run queued twice (the mailbox added,
    # then queued again) may poll once more after it, and finds nothing new
    statuses = [status for status, _ in runs]
    first_ok = statuses.index("ok")
    assert set(statuses[:first_ok]) == {"catching_up"}
    assert all(run == ("ok", 0) for run in runs[first_ok + 1:]), runs
    assert first_ok >= 4, runs  # many slices before it


def test_one_worker_captures_new_mail_between_slices_of_a_big_backfill(
        pg_cli: Cli, broker: str, dovecot: DovecotServer, tmp_path: Path) -> None:
    # One worker slot, a 1,500-message backfill under way: a mail that arrives in another
    # mailbox is captured after at most a slice, long before the backfill ends.
    big, small = _fill(dovecot)
    env = {f"CRMSYNC_{key}": str(value) for key, value in SLICED.items()}
    with workers(pg_cli, 1, tmp_path, concurrency=1, env=env), \
            pg_cli.session() as session:
        progress = Progress(session)
        add_mailbox(pg_cli, dovecot, small)  # each add queues a first sync
        wait_for(lambda: progress.stored(small) == 1, 30, "the small mailbox's first sync")
        add_mailbox(pg_cli, dovecot, big)
        wait_for(lambda: progress.stored(big) >= 100, 30, "the backfill to start")
        dovecot.append(small, "INBOX", make_mail(BIG + 2, message_id=NEW_MAIL))
        enqueue_sync({"BROKER_URL": broker}, small)  # as the scheduler or push would
        wait_for(lambda: progress.has(NEW_MAIL), 30, "the new mail in the CRM")
        backfilled = progress.stored(big)
        wait_for(lambda: progress.stored(big) == BIG and queued(broker) == 0, 120,
                 "the backfill to end")
    print(f"\nnew mail captured after {backfilled} of {BIG} backfilled")
    assert backfilled < BIG / 2, f"the new mail waited for {backfilled} backfilled mails"
    _assert_backfilled_once(pg_cli, dovecot, big)


def test_a_sync_asked_for_mid_run_runs_after_it(
        pg_cli: Cli, broker: str, dovecot: DovecotServer, tmp_path: Path) -> None:
    # A mail lands in a mailbox whose long sync already passed the folder, and its
    # notification queues a sync: that task finds the mailbox busy. The holder runs the
    # mailbox once more when it ends, so the mail arrives then, not at the next poll.
    big = new_user(dovecot)  # the backfill in Archive, synced after INBOX
    write_maildir(maildir_of(dovecot, big) / ".Archive",
                  ((BASE, make_mail(n, sender=TOM if n % 2 else ANA)) for n in range(BIG)),
                  owner=mail_owner())
    env = {"CRMSYNC_SYNC_BATCH_SIZE": "20", "CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "0",
           "CRMSYNC_SYNC_RUN_SECONDS": "600", "CRMSYNC_POLL_SECONDS": "3600",
           "CRMSYNC_IMAP_PUSH": "0"}  # the notification below is the only trigger
    with workers(pg_cli, 2, tmp_path, concurrency=1, env=env), \
            pg_cli.session() as session:
        progress = Progress(session)
        # queues the first sync: one run, no slices, INBOX first
        add_mailbox(pg_cli, dovecot, big, None, "--folders", "INBOX,Archive")
        wait_for(lambda: progress.stored(big) >= 100, 30, "the backfill to start")
        dovecot.append(big, "INBOX", make_mail(BIG + 2, message_id=NEW_MAIL))
        enqueue_sync({"BROKER_URL": broker}, big)  # as a Graph notification would
        wait_for(lambda: "it runs again after" in "".join(
            log.read_text() for log in tmp_path.glob("worker*.log")), 30,
            "the second worker to find the mailbox busy")
        wait_for(lambda: progress.has(NEW_MAIL), 120, "the new mail after the backfill")
        wait_for(lambda: queued(broker) == 0, 30, "the queue to drain")
    with pg_cli.session() as session:
        runs = session.execute(select(SyncRun.status, SyncRun.items).join(Mailbox)
                               .where(Mailbox.name == big).order_by(SyncRun.id)).all()
    assert [tuple(run) for run in runs] == [("ok", BIG), ("ok", 1)]


def test_serve_alone_interleaves_a_big_backfill_with_other_mailboxes(
        sqlite_url: str, dovecot: DovecotServer) -> None:
    # One process, one scheduler thread: the round syncs a slice of the big mailbox, then
    # the small one, and a "sync now" for the small one waits one slice, not the backfill.
    cli = Cli(sqlite_url)
    cli("db", "upgrade")
    load_sample_crm(cli)
    big, small = _fill(dovecot)
    add_mailbox(cli, dovecot, big)
    add_mailbox(cli, dovecot, small)
    services = make_services(sqlite_url, POLL_SECONDS=3600, IMAP_PUSH=False, **SLICED)
    scheduler = Scheduler(services)
    scheduler.start()
    try:
        with cli.session() as session:
            progress = Progress(session)
            wait_for(lambda: progress.stored(small) == 1, 30, "the small mailbox in the round")
            first_round = progress.stored(big)
            dovecot.append(small, "INBOX", make_mail(BIG + 2, message_id=NEW_MAIL))
            scheduler.request_sync(small)
            wait_for(lambda: progress.has(NEW_MAIL), 30, "the new mail in the CRM")
            backfilled = progress.stored(big)
            wait_for(lambda: progress.stored(big) == BIG, 120, "the backfill to end")
            wait_for(lambda: "ok" == session.scalar(
                select(Mailbox.status).where(Mailbox.name == big)), 10, "its last run")
    finally:
        scheduler.stop()
        services.dispose()
    assert first_round < BIG / 2, f"the round's first mailbox took {first_round} mails"
    assert backfilled < BIG / 2, f"the new mail waited for {backfilled} backfilled mails"
    _assert_backfilled_once(cli, dovecot, big)
