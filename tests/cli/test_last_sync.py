"""`mailbox list` shows `last_sync` only for a run that completed successfully.

An admin reads LAST SYNC as "everything up to then is in the CRM": a run that failed,
found the mailbox busy, or lost its lease must neither set it nor move it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from crmsync.crm.export import iso_utc
from crmsync.crm.models import Mailbox, SyncRun
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer

MAIL = (b"From: Ana Ruiz <ana.ruiz@acme.example>\r\nTo: maria.lopez@northwind.example\r\n"
        b"Subject: Last sync\r\nMessage-ID: <last-sync-1@acme.example>\r\n"
        b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nHello\r\n")


def _row(cli: Cli) -> dict:
    [row] = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    return row


def _sync(cli: Cli, name: str) -> str:
    """``sync --once`` whatever its exit code (a failed run exits non-zero)."""
    return cli("sync", "--mailbox", name, "--once", ok=False).output


def _runs(cli: Cli) -> list[tuple[str, datetime]]:
    with cli.session() as session:
        return [tuple(row) for row in session.execute(
            select(SyncRun.status, SyncRun.finished_at).order_by(SyncRun.id))]


def test_last_sync_is_the_last_successful_run_only(cli: Cli, dovecot: DovecotServer) -> None:
    load_sample_crm(cli)
    user = new_user(dovecot, password="not-what-crmsync-holds")
    dovecot.append(user, "INBOX", MAIL)
    name = add_mailbox(cli, dovecot, user)

    # A first run that fails (the server refuses the password): no last sync at all.
    _sync(cli, name)
    row = _row(cli)
    assert row["status"] != "ok" and row["last_sync"] is None

    # The password is fixed: a good run sets it, to when that run finished.
    dovecot.add_user(user, "pw-" + user)
    sync(cli, name)
    good = _row(cli)
    assert (good["status"], good["items"]) == ("ok", 1)
    [*_, (status, finished)] = _runs(cli)
    assert status == "ok"
    assert good["last_sync"] == iso_utc(finished)

    # A run that finds another worker holding the mailbox: the good run's time stays.
    with cli.session() as session:
        session.execute(update(Mailbox).values(
            lease_owner="elsewhere:1", lease_expires_at=datetime.now(UTC) + timedelta(seconds=60)))
        session.commit()
    assert "busy" in _sync(cli, name)
    assert _row(cli)["last_sync"] == good["last_sync"]
    with cli.session() as session:
        session.execute(update(Mailbox).values(lease_owner=None, lease_expires_at=None))
        session.commit()

    # A run that fails after the good one: the status says so, last_sync stays the good one's.
    time.sleep(1.1)  # Dovecot re-reads a passwd-file when its mtime (whole seconds) moves
    dovecot.add_user(user, "changed-on-the-server")
    _sync(cli, name)
    failed = _row(cli)
    assert failed["status"] != "ok" and failed["last_error"]
    assert failed["last_sync"] == good["last_sync"]
    assert [status for status, _ in _runs(cli)][-1] != "ok"
