"""Exchange's faults, end to end: throttling waited out exactly, refused sync states,
impersonation, wrong passwords, locked and deleted mailboxes — each a clear status,
the other mailboxes going on."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import Activity, ActivitySource
from crmsync.sync_service.triggers.scheduler import Scheduler
from tests.conftest import Cli, load_sample_crm, make_services
from tests.ews.helpers import PASSWORD, add_ews_mailbox, mail_ids, mime, sync
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MAIL_ONLY = ("--no-calendar", "--no-contacts")


def mailboxes(cli: Cli) -> dict[str, dict]:
    rows = (json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines())
    return {row["name"]: row for row in rows}


def counts(cli: Cli) -> tuple[int, int]:
    with cli.session() as session:
        return (session.scalar(select(func.count()).select_from(Activity)),
                session.scalar(select(func.count()).select_from(ActivitySource)))


def test_server_busy_is_waited_out_exactly_as_long_as_exchange_asks(
        cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, *MAIL_ONLY)
    for n in range(3):
        ews.mailbox(address).add_item("inbox", mime=mime(100 + n))
    busy = ews.busy(1200, times=2, operation="GetItem")
    started = time.monotonic()
    assert "ok" in sync(cli, ews, name)
    assert time.monotonic() - started >= 2.4  # two back-offs of 1.2 s, each waited out
    assert busy.early == 0, "a request came back before the back-off had passed"
    assert busy.times == 0
    assert mail_ids(cli) == [f"<ews-{100 + n}@acme.example>" for n in range(3)]


def test_a_back_off_longer_than_a_run_leaves_the_mailbox_alone_until_it_is_over(
        cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, *MAIL_ONLY)
    ews.mailbox(address).add_item("inbox", mime=mime(120))
    services = make_services(cli.env["CRMSYNC_DATABASE_URL"], POLL_SECONDS=3600)
    clock = [1000.0]
    scheduler = Scheduler(services, clock=lambda: clock[0])
    try:
        busy = ews.busy(300_000, times=1)
        scheduler.poll_once()
        row = mailboxes(cli)[name]
        assert row["status"] == "retrying"
        assert "busy" in row["last_error"].lower()
        sent = len(ews.operations(address))
        clock[0] += 299
        scheduler.poll_once()
        assert len(ews.operations(address)) == sent and busy.early == 0
        busy.until = 0.0  # the server's five minutes are over
        clock[0] += 2
        scheduler.poll_once()
        assert mail_ids(cli) == ["<ews-120@acme.example>"]
    finally:
        scheduler.stop()
        services.dispose()


def test_a_refused_sync_state_restarts_the_folder_without_duplicates(
        cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, *MAIL_ONLY)
    box = ews.mailbox(address)
    for n in range(6):
        box.add_item("inbox", mime=mime(200 + n))
    sync(cli, ews, name)
    assert counts(cli) == (6, 6)
    box.invalidate_sync_states("inbox")  # e.g. the mailbox moved to another database
    box.add_item("inbox", mime=mime(206))
    output = sync(cli, ews, name)
    assert "ok" in output
    assert counts(cli) == (7, 7)
    assert len(mail_ids(cli)) == 7


def test_impersonation_allowed_syncs_and_refused_says_which_role_is_missing(
        cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    service = unique_address("svc-crm")
    ews.add_user(service, "Svc-pass-1")
    allowed, refused = unique_address("sales"), unique_address("ceo")
    for address in (allowed, refused):
        ews.mailbox(address).add_item("inbox", mime=mime(300, message_id=f"<{address}>"))
    ews.grant_impersonation(service, allowed)
    good, _ = add_ews_mailbox(cli, ews, "--impersonate", *MAIL_ONLY, address=allowed,
                              username=service, password="Svc-pass-1")
    bad, _ = add_ews_mailbox(cli, ews, "--impersonate", *MAIL_ONLY, address=refused,
                             username=service, password="Svc-pass-1",
                             owner="wei.zhang@northwind.example")
    cli("sync", "--once", ok=False, env={"REQUESTS_CA_BUNDLE": ews.ca_path})
    rows = mailboxes(cli)
    assert rows[good]["status"] == "ok"
    assert rows[bad]["status"] == "needs re-auth"
    assert "ApplicationImpersonation" in rows[bad]["last_error"]
    assert mail_ids(cli) == [f"<{allowed}>"]


def test_wrong_password_locked_and_deleted_mailboxes_each_get_a_status_and_others_go_on(
        cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    names = {}
    for kind in ("good", "password", "locked", "deleted"):
        names[kind], address = add_ews_mailbox(cli, ews, *MAIL_ONLY)
        ews.mailbox(address).add_item("inbox", mime=mime(400, message_id=f"<{kind}@x>"))
        if kind == "password":
            ews.users[address] = ("changed-by-the-user", address)
        elif kind == "locked":
            ews.locked.add(address)
        elif kind == "deleted":
            del ews.mailboxes[address]
    cli("sync", "--once", ok=False, env={"REQUESTS_CA_BUNDLE": ews.ca_path})
    rows = mailboxes(cli)
    assert rows[names["good"]]["status"] == "ok"
    assert mail_ids(cli) == ["<good@x>"]
    assert rows[names["password"]]["status"] == "needs re-auth"
    assert "check the user name and password" in rows[names["password"]]["last_error"]
    assert rows[names["locked"]]["status"] == "retrying"
    assert "unavailable" in rows[names["locked"]]["last_error"]
    assert rows[names["deleted"]]["status"] == "error"
    assert "has no mailbox" in rows[names["deleted"]]["last_error"]
    assert PASSWORD not in json.dumps(rows)
