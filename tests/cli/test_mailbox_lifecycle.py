"""`crmsync mailbox pause|resume|resync|remove` and `user add`, as an admin at a shell."""

from __future__ import annotations

import json

from crmsync.sync_service.triggers.scheduler import Scheduler
from tests.conftest import Cli, load_sample_crm, make_services
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer


def _mail(n: int) -> bytes:
    return (f"From: Ana Ruiz <ana.ruiz@acme.example>\r\nTo: maria.lopez@northwind.example\r\n"
            f"Subject: Lifecycle {n}\r\nMessage-ID: <lifecycle-{n}@acme.example>\r\n"
            f"Date: Mon, 0{n} Nov 2026 10:00:00 +0000\r\n\r\nHello\r\n").encode()


def _row(cli: Cli) -> dict:
    [row] = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    return row


def test_pause_resume_resync_remove(cli: Cli, dovecot: DovecotServer) -> None:
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append(user, "INBOX", _mail(2))
    add_mailbox(cli, dovecot, user, "maria")
    sync(cli, "maria")
    assert _row(cli)["items"] == 1

    cli("mailbox", "pause", "maria")
    assert _row(cli)["status"] == "paused"
    dovecot.append(user, "INBOX", _mail(3))
    assert "maria: paused" in sync(cli, "maria")
    services = make_services(cli.env["CRMSYNC_DATABASE_URL"])
    try:
        Scheduler(services).poll_once()  # the scheduler leaves it alone too
    finally:
        services.dispose()
    assert _row(cli)["items"] == 1

    cli("mailbox", "resume", "maria")
    sync(cli, "maria")
    assert (_row(cli)["status"], _row(cli)["items"]) == ("ok", 2)

    # Resync from a date: fetched again, stored once.
    assert "no changes" in sync(cli, "maria")
    cli("mailbox", "resync", "maria", "--since", "2026-01-01")
    assert "2 merged" in sync(cli, "maria")  # both read again, neither stored twice
    assert _row(cli)["items"] == 2
    assert len([a for a in cli.export_activities() if a["subject"].startswith("Lifecycle")]) == 2

    cli("mailbox", "remove", "maria")
    assert cli("mailbox", "list", "--json").output == ""
    assert "no mailbox named 'maria'" in cli("mailbox", "pause", "maria", ok=False).output
    assert len(cli.export_activities()) >= 2  # its mail stays
    add_mailbox(cli, dovecot, user, "maria")  # the name is free again
    actions = cli("audit", "list").output
    for action in ("mailbox.pause", "mailbox.resume", "mailbox.resync", "mailbox.remove"):
        assert f'"action": "{action}"' in actions


def test_user_add_sets_a_console_password_and_keeps_what_is_not_given(cli: Cli) -> None:
    load_sample_crm(cli)
    short = cli("user", "add", "olivia.admin@northwind.example", "--password-env", "PW",
                env={"PW": "short"}, ok=False)
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    cli("user", "add", "olivia.admin@northwind.example", "--password-env", "PW",
        env={"PW": "a long enough password"})
    with cli.session() as session:
        from crmsync.crm.models import User

        user = session.query(User).filter_by(email="olivia.admin@northwind.example").one()
        assert (user.role, user.name) == ("admin", "Olivia Admin")
        assert user.password_hash.startswith("$argon2id$")
    audit = cli("audit", "list").output
    assert '"user.add"' in audit and "a long enough password" not in audit
