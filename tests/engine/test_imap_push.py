"""IMAP push (`crmsync serve`): a mail appended to a chosen folder reaches the CRM
without a poll."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from crmsync.sync_service.startup import build_services
from crmsync.sync_service.triggers.imap_idle import ImapPush, PushPlan, plan_push
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


def push_of(cli: Cli, name: str) -> dict[str, str]:
    """Return `crmsync mailbox list --json`'s folder → push mode of mailbox ``name``."""
    rows = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    return next(row["push"] for row in rows if row["name"] == name)


@pytest.mark.parametrize(("folders", "notify", "connections", "plan"), [
    (["INBOX", "Work", "Archive"], True, 1, PushPlan("notify", ("INBOX", "Work", "Archive"))),
    (["INBOX", "Work", "Archive"], False, 2, PushPlan("idle", ("INBOX", "Work"), ("Archive",))),
    (["INBOX", "Sent"], False, 3, PushPlan("idle", ("INBOX", "Sent"))),
    (["INBOX", "Sent"], False, 0, PushPlan("idle", ("INBOX",), ("Sent",))),
])
def test_push_plan(folders, notify, connections, plan) -> None:
    # NOTIFY watches every folder; without it one IDLE per folder, Inbox first, within budget.
    assert plan_push(folders, notify, connections) == plan


def pushed_quickly(cli: Cli, server: DovecotServer, user: str, folder: str) -> float:
    """APPEND a mail to ``folder`` and return the seconds until it is in the CRM."""
    time.sleep(1)  # the push marks are written just before the watch's first wait begins
    started = time.monotonic()
    server.append(user, folder, make_mail(1))
    assert wait_for(lambda: len(cli.export_activities()) == 1, 30)
    return time.monotonic() - started


def test_mail_in_another_chosen_folder_is_pushed_by_notify(
    cli: Cli, dovecot: DovecotServer
) -> None:
    # Inbox and "Work" chosen: NOTIFY watches both on one connection, so mail filed
    # straight into "Work" arrives long before the 15 s safety-net sync would bring it.
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.create_folder(user, "Work")
    name = add_mailbox(cli, dovecot, user, None, "--folders", "INBOX,Work")
    sync(cli, name)
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                               "SECRET_KEY": "test-key", "POLL_SECONDS": 3600})
    push = ImapPush(services, idle_seconds=15)
    push.start()
    try:
        assert wait_for(lambda: push_of(cli, name) == {"INBOX": "notify", "Work": "notify"})
        assert pushed_quickly(cli, dovecot, user, "Work") < 8
    finally:
        push.stop()
        services.dispose()
    assert push_of(cli, name) == {"INBOX": "poll", "Work": "poll"}  # serve stopped


def test_without_notify_one_idle_per_folder_within_the_budget(
    cli: Cli, dovecot_without_condstore: DovecotServer
) -> None:
    # No NOTIFY: the Inbox and "Work" IDLE on a connection each (a budget of 2),
    # "Archive" is left to the poll, `mailbox list` says which; mail in "Work" is pushed.
    server = dovecot_without_condstore
    load_sample_crm(cli)
    user = new_user(server)
    server.create_folder(user, "Work")
    server.create_folder(user, "Archive")
    name = add_mailbox(cli, server, user, None, "--folders", "INBOX,Work,Archive")
    sync(cli, name)
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                               "SECRET_KEY": "test-key", "POLL_SECONDS": 3600,
                               "PUSH_IDLE_CONNECTIONS": 2})
    push = ImapPush(services, idle_seconds=15)
    push.start()
    try:
        expected = {"INBOX": "idle", "Work": "idle", "Archive": "poll"}
        assert wait_for(lambda: push_of(cli, name) == expected)
        assert "poll Archive; idle INBOX, Work" in cli("mailbox", "list").output
        assert pushed_quickly(cli, server, user, "Work") < 8
    finally:
        push.stop()
        services.dispose()
