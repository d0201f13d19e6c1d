"""CRM contacts in a rep's CardDAV address book ("CRM"), against Radicale: written by
the sync of the rep's mailbox, edits there listed as suggestions, the CRM unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import ContactChangedError
from crmsync.connectors.registry import load_connector_class
from tests.conftest import Cli, load_sample_crm
from tests.dav.accounts import DavAccount
from tests.dav.test_dav_mailbox import add_caldav
from tests.ews.helpers import MARIA

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def book(account: DavAccount) -> dict[str, str]:
    """The CRM address book as an app shows it: first address → (href, vCard)."""
    found = {}
    for href, text in account.members("crm").items():
        address = re.search(r"EMAIL[^:]*:(\S+)", text).group(1)
        found[address] = (href, text)
    return found


def suggestions(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in
            cli("contacts", "suggestions", "--json").output.splitlines()]


@SQLITE_ONLY
def test_contacts_of_the_reps_accounts_reach_the_crm_address_book_and_edits_come_back(
        cli: Cli, account: DavAccount, tmp_path: Path) -> None:
    # Maria's rule: the accounts she owns. Their contacts appear in her "CRM" address
    # book; her edit there becomes a suggestion and the CRM keeps its value; a contact
    # whose account goes to a colleague leaves the book, not the CRM.
    load_sample_crm(cli)
    cli("contacts", "publish-rule", "set", "--user", MARIA[1], "--accounts", "owned")
    name = add_caldav(cli, account, "--no-calendar", "--no-contacts")
    cli("sync", "--mailbox", name, "--once")
    cards = book(account)
    assert set(cards) == {"ana.ruiz@acme.example", "tom.becker@acme.example",
                          "hank@globex.example", "peter.gibbons@gmail.com"}
    assert "TITLE:Head of Procurement" in cards["ana.ruiz@acme.example"][1]

    href, text = cards["ana.ruiz@acme.example"]
    account.request("PUT", href.split("/", 2)[2],
                    text.replace("TITLE:Head of Procurement", "TITLE:Chief Procurement Officer"),
                    {"Content-Type": "text/vcard"})
    cli("sync", "--mailbox", name, "--once")
    [suggestion] = suggestions(cli)
    assert (suggestion["contact_external_id"], suggestion["field"], suggestion["crm_value"],
            suggestion["suggested_value"]) == ("c-1", "title", "Head of Procurement",
                                               "Chief Procurement Officer")
    assert name in suggestion["source"]
    exported = cli("contacts", "export").output
    assert "TITLE:Head of Procurement" in exported
    assert "Chief Procurement Officer" not in exported
    cli("sync", "--mailbox", name, "--once")  # the same edit is listed once
    assert len(suggestions(cli)) == 1
    assert "Chief Procurement Officer" in book(account)["ana.ruiz@acme.example"][1]

    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name,domains,owner_email\n"
                        "acc-globex,Globex,globex.example,wei.zhang@northwind.example\n")
    cli("crm", "import", "--accounts", str(accounts))
    cli("sync", "--mailbox", name, "--once")
    assert set(book(account)) == {"ana.ruiz@acme.example", "tom.becker@acme.example",
                                  "peter.gibbons@gmail.com"}
    assert "hank@globex.example" in cli("contacts", "export").output

    cli("contacts", "suggestions", "--dismiss", str(suggestion["id"]))
    assert suggestions(cli) == []

    # An erased person leaves every CRM folder at the next sync.
    cli("privacy", "erase", "tom.becker@acme.example")
    cli("sync", "--mailbox", name, "--once")
    assert set(book(account)) == {"ana.ruiz@acme.example", "peter.gibbons@gmail.com"}


def test_a_write_at_an_old_etag_is_refused_not_applied(account: DavAccount) -> None:
    # Edited in the address book after we listed it: the PUT If-Match the old ETag is
    # refused (412), and the rep's edit stays.

    dav = load_connector_class("caldav").from_settings(
        {"url": account.user.principal_url, "username": account.user.username},
        account.user.password)
    card = ContactCard("crm-c-2", "CRM", "Tom Becker", ("tom.becker@acme.example",),
                       "Tom", "Becker", "Acme", "CTO")
    stored = dav.create_crm_contact(card)
    text = account.get(stored.remote_id).text
    account.request("PUT", stored.remote_id.split("/", 2)[2], text.replace("CTO", "Boss"),
                    {"Content-Type": "text/vcard"})
    with pytest.raises(ContactChangedError):
        dav.update_crm_contact(stored.remote_id, stored.change_key, card)
    [now] = dav.crm_folder_contacts()
    assert now.card.job_title == "Boss" and now.change_key != stored.change_key
