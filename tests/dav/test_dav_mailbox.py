"""`crmsync mailbox add caldav` + `crmsync sync` end to end against Radicale: meetings
and address-book entries reach the CRM as they do from Exchange."""

from __future__ import annotations

import json

import pytest

from crmsync.connectors.network import REFUSED
from tests.conftest import Cli, load_sample_crm
from tests.dav.accounts import DavAccount
from tests.dav.test_dav_calendar import soon
from tests.ews.calendars import calendar, people, single
from tests.ews.helpers import ANA, MARIA

#: The engine's behaviour on PostgreSQL is covered by the IMAP, Graph and EWS suites.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def add_caldav(cli: Cli, account: DavAccount, *extra: str, password: str | None = None,
               ok: bool = True) -> str:
    name = f"dav-{account.user.username}"
    result = cli("mailbox", "add", "caldav", name, "--url", account.user.principal_url,
                 "--username", account.user.username, "--password-env", "DAV_PW",
                 "--owner", MARIA[1], *extra,
                 env={"DAV_PW": password or account.user.password}, ok=ok)
    return name if ok else result.output


def status(cli: Cli, name: str) -> dict:
    rows = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    return next(row for row in rows if row["name"] == name)


def test_a_customer_meeting_and_an_address_book_entry_reach_the_crm(
        cli: Cli, account: DavAccount) -> None:
    # A meeting with Ana becomes a meeting linked to Acme; Ana's card in the address book
    # fills her blank CRM field and a differing value is never written over.
    load_sample_crm(cli)
    href = account.put_event(calendar(single("dav-qbr-1", "Acme QBR", soon(),
                                             who=people(MARIA, (ANA,)))))
    account.put_card("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ana-1\r\nFN:Ana Ruiz\r\n"
                     "N:Ruiz;Ana;;;\r\nEMAIL;TYPE=INTERNET:ana.ruiz@acme.example\r\n"
                     "TITLE:Chief Buyer\r\nEND:VCARD\r\n")
    name = add_caldav(cli, account)
    out = cli("sync", "--mailbox", name, "--once").output
    [meeting] = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert meeting["subject"] == "Acme QBR" and meeting["ical_uid"] == "dav-qbr-1"
    assert any(link["external_id"] == "acc-acme" for link in meeting["links"])
    assert [s["item_id"] for s in meeting["sources"]] == [href]
    assert "contact conflict: c-1 title" in out
    assert status(cli, name)["status"] == "ok"


def test_a_wrong_password_marks_the_account_needs_reauth(cli: Cli, account: DavAccount) -> None:
    # Radicale refuses the sign-in: the mailbox says so, nothing is stored.
    load_sample_crm(cli)
    name = add_caldav(cli, account, password="wrong")
    cli("sync", "--mailbox", name, "--once", ok=False)
    assert status(cli, name)["status"] == "needs re-auth"


def test_plain_http_and_unlisted_private_addresses_are_refused(
        cli: Cli, account: DavAccount) -> None:
    # The URL follows the mail-server rule: https only, private networks only when allowed.
    load_sample_crm(cli)
    plain = account.user.principal_url.replace("https://", "http://")
    out = cli("mailbox", "add", "caldav", "plain", "--url", plain, "--username", "u",
              "--password-env", "DAV_PW", env={"DAV_PW": "x"}, ok=False).output
    assert REFUSED in out
    out = cli("mailbox", "add", "caldav", "private", "--url", account.user.principal_url,
              "--username", "u", "--password-env", "DAV_PW",
              env={"DAV_PW": "x", "CRMSYNC_ALLOWED_PRIVATE_NETWORKS": "10.0.0.0/8"},
              ok=False).output
    assert REFUSED in out
