"""F4: a worker paused past its lease wakes up, and its late page is refused by the token.

Every claim of a mailbox raises its fencing token; every page commits only while the
token is still its run's (mailboxes/leases.py). The oracle reads the server with an
independent IMAP client, as in test_crash_resume.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from crmsync.crm.db import session_scope
from crmsync.crm.models import Activity, ActivitySource, Mailbox, Setting, SyncRun, SyncState
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.leases import (
    LEASE_LOST,
    LeaseLostError,
    claim_lease,
    keep_lease,
    release_lease,
)
from tests.conftest import ROOT, Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, TOM, make_mail
from tests.engine.test_crash_resume import _server_truth
from tests.servers.dovecot import DovecotServer

MESSAGES = 300
#: short enough that the paused worker's lease runs out while the test waits
LEASE_SECONDS = 2
#: a sync's name in pg_stat_activity, to tell whether it sits inside a transaction
ZOMBIE = "crmsync-zombie"


def _start_sync(cli: Cli, name: str, url: str) -> subprocess.Popen:
    env = {**os.environ, **cli.env, "CRMSYNC_DATABASE_URL": url,
           "CRMSYNC_SYNC_BATCH_SIZE": "5", "CRMSYNC_LEASE_SECONDS": str(LEASE_SECONDS),
           "CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", "--mailbox", name, "--once"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _in_transaction(url: str) -> bool:
    """Whether the (stopped) zombie holds a transaction open, which would block the
    other worker's writes until it woke up: SQLite's write lock, or any PostgreSQL
    session of it that is not idle."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            db.close()
    import psycopg

    dsn = url.replace("postgresql+psycopg", "postgresql").split("?")[0]
    with psycopg.connect(dsn, autocommit=True) as db:
        busy = db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                          "AND state <> 'idle'", (ZOMBIE,)).fetchone()
    return bool(busy and busy[0])


def _pause_between_pages(process: subprocess.Popen, cli: Cli, url: str) -> int:
    """SIGSTOP ``process`` once it stored some pages, at an instant it holds no
    transaction (mid-fetch); return how many copies it had stored."""
    deadline = time.monotonic() + 30
    with cli.session() as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            stored = session.scalar(select(func.count()).select_from(ActivitySource))
            session.rollback()
            if stored >= 30:
                process.send_signal(signal.SIGSTOP)
                time.sleep(0.05)
                if not _in_transaction(url):
                    return stored
                process.send_signal(signal.SIGCONT)
            time.sleep(0.002)
    raise AssertionError("the first sync never paused between two pages")


def _snapshot(cli: Cli) -> dict[str, object]:
    """What a late commit would change: the stored mail, the cursor, the mailbox row."""
    with cli.session() as session:
        mailbox = session.scalars(select(Mailbox)).one()
        state = session.scalars(select(SyncState)).one()
        return {
            "copies": dict(session.execute(
                select(ActivitySource.item_id, Activity.internet_message_id).join(Activity))
                .all()),
            "activities": session.scalar(select(func.count()).select_from(Activity)),
            "cursor": state.cursor, "counters": state.counters,
            "mailbox": (mailbox.status, mailbox.last_error, mailbox.last_sync_at,
                        mailbox.lease_owner, mailbox.lease_token),
        }


@pytest.mark.timeout(120)
def test_paused_worker_past_its_lease_cannot_commit_after_a_takeover(
    cli: Cli, dovecot: DovecotServer
) -> None:
    # Worker A is paused mid-sync past its lease, B takes over and finishes, then A
    # wakes up: A's next page is refused, nothing is doubled or lost, B's state stands.
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append_many(user, "INBOX", (make_mail(n, sender=TOM if n % 3 else ANA)
                                        for n in range(MESSAGES)))
    name = add_mailbox(cli, dovecot, user)
    url = cli.env["CRMSYNC_DATABASE_URL"]
    zombie_url = url if url.startswith("sqlite") else f"{url}?application_name={ZOMBIE}"

    zombie = _start_sync(cli, name, zombie_url)
    try:
        stored_by_zombie = _pause_between_pages(zombie, cli, url)
        time.sleep(LEASE_SECONDS + 0.5)  # its lease runs out while it is stopped
        taker = _start_sync(cli, name, url)
        taker_output = taker.communicate(timeout=60)[0].decode()
        assert taker.returncode == 0, taker_output
        assert f"{name}: ok:" in taker_output
        after_takeover = _snapshot(cli)
    finally:
        zombie.send_signal(signal.SIGCONT)
    zombie_output = zombie.communicate(timeout=60)[0].decode()

    assert zombie.returncode == 2, zombie_output
    assert f"{name}: lease lost:" in zombie_output
    assert f"({LEASE_LOST})" in zombie_output
    assert "its last page was not stored" in zombie_output  # the rejection is logged
    # the zombie stored nothing after it woke up: the takeover's state is the final one
    assert _snapshot(cli) == after_takeover
    status, last_error, last_sync_at, owner, token = after_takeover["mailbox"]
    assert (status, last_error, owner, token) == ("ok", None, None, 2)
    assert last_sync_at is not None
    truth = _server_truth(dovecot, user)
    assert after_takeover["copies"] == truth
    assert after_takeover["activities"] == len(set(truth.values()))
    assert 0 < stored_by_zombie < len(truth)
    with cli.session() as session:
        runs = session.scalars(select(SyncRun.status).order_by(SyncRun.id)).all()
    assert runs == ["ok", "lease_lost"]


def _new_mailbox(services: Services) -> int:
    with session_scope(services.sessions) as session:
        mailbox = Mailbox(name="fenced", provider="imap", created_at=datetime.now(UTC))
        session.add(mailbox)
        session.flush()
        return mailbox.id


def test_each_claim_raises_the_token_and_an_old_tokens_commit_rolls_back(
    services: Services,
) -> None:
    # A claim hands out a newer token; the older holder's transaction is refused whole.
    now = datetime.now(UTC)
    mailbox_id = _new_mailbox(services)
    first = claim_lease(services, mailbox_id, now)
    assert first is not None and first.token == 1
    assert claim_lease(services, mailbox_id, now) is None  # another thread here holds it
    release_lease(services, first)
    with session_scope(services.sessions) as session:  # a worker on another host holds it
        session.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(
            lease_owner="elsewhere:1", lease_expires_at=now + timedelta(seconds=60)))
    assert claim_lease(services, mailbox_id, now) is None
    second = claim_lease(services, mailbox_id, now + timedelta(seconds=61))  # it lapsed
    assert second is not None and second.token == 2

    with pytest.raises(LeaseLostError, match=LEASE_LOST):
        with session_scope(services.sessions) as session:
            session.add(Setting(key="late-write", value="from the stalled holder"))
            keep_lease(session, first, now)
    release_lease(services, first)  # a late release frees nothing: the token is newer
    with session_scope(services.sessions) as session:
        assert session.get(Setting, "late-write") is None
        assert session.get(Mailbox, mailbox_id).lease_owner is not None
        keep_lease(session, second, now + timedelta(seconds=300))  # renews
    with services.sessions() as session:
        assert session.get(Mailbox, mailbox_id).lease_expires_at > now + timedelta(seconds=600)
    release_lease(services, second)
    with services.sessions() as session:
        assert session.get(Mailbox, mailbox_id).lease_owner is None
