"""IMAP push (`crmsync serve`): a mail appended to the Inbox reaches the CRM without a poll."""

from __future__ import annotations

import time
from collections.abc import Callable

from crmsync.sync_service.startup import build_services
from crmsync.sync_service.triggers.imap_idle import ImapPush
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.engine.mails import make_mail
from tests.servers.dovecot import DovecotServer


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (a deadline, not a speed check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_appended_mail_is_synced_by_idle(cli: Cli, dovecot: DovecotServer) -> None:
    # With the scheduler's poll far away, IDLE alone brings new mail in, once.
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append(user, "INBOX", make_mail(0))
    name = add_mailbox(cli, dovecot, user)
    sync(cli, name)
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                               "SECRET_KEY": "test-key", "POLL_SECONDS": 3600})
    push = ImapPush(services, idle_seconds=5)
    push.start()
    try:
        assert push.watched == [name]
        dovecot.append(user, "INBOX", make_mail(1))
        dovecot.append(user, "INBOX", make_mail(2))
        assert wait_for(lambda: len(cli.export_activities()) == 3)
    finally:
        push.stop()
        services.dispose()
    assert len(cli.export_activities()) == 3
    assert "no changes" in sync(cli, name)


def test_push_survives_a_refused_login(cli: Cli, dovecot: DovecotServer) -> None:
    # A mailbox whose password is wrong does not stop push for the others.
    load_sample_crm(cli)
    good, bad = new_user(dovecot), new_user(dovecot)
    name = add_mailbox(cli, dovecot, good)
    cli("mailbox", "add", "imap", "broken", "--host", dovecot.host, "--port", str(dovecot.port),
        "--security", "none", "--username", bad, "--password-env", "PW", env={"PW": "wrong"})
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                               "SECRET_KEY": "test-key"})
    push = ImapPush(services, idle_seconds=5)
    push.start()
    try:
        assert push.watched == ["broken", name]
        dovecot.append(good, "INBOX", make_mail(5))
        assert wait_for(lambda: len(cli.export_activities()) == 1)
    finally:
        push.stop()
        services.dispose()
