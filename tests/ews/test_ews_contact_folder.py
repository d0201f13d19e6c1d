"""CRM contacts in an Exchange mailbox's "CRM" contacts folder, against the EWS double:
written by the mailbox's sync through exchangelib, an edit in Outlook listed as a
suggestion (the CRM unchanged), a contact out of the rule's scope removed from the folder
only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import ContactChangedError
from crmsync.connectors.ews import EwsConnector
from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import MARIA, add_ews_mailbox, sync
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def crm_folder(ews: EwsDouble, address: str) -> dict[str, tuple[str, dict]]:
    """The CRM folder as Outlook shows it: first address → (item id, properties)."""
    box = ews.mailbox(address)
    folder = box.folder("CRM")
    return {item.props["emails"][0]: (item.id, item.props)
            for item in box.items.values() if item.folder_id == folder.id}


@SQLITE_ONLY
def test_crm_contacts_in_the_exchange_folder_and_an_outlook_edit_as_a_suggestion(
        cli: Cli, ews: EwsDouble, tmp_path: Path) -> None:
    # Maria's rule: the accounts she owns; her Outlook edit comes back as a suggestion;
    # Globex going to a colleague takes Hank out of her folder, not out of the CRM.
    load_sample_crm(cli)
    cli("contacts", "publish-rule", "set", "--user", MARIA[1], "--accounts", "owned")
    name, address = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts")
    sync(cli, ews, name)
    folder = crm_folder(ews, address)
    assert set(folder) == {"ana.ruiz@acme.example", "tom.becker@acme.example",
                           "hank@globex.example", "peter.gibbons@gmail.com"}
    ana_id, ana = folder["ana.ruiz@acme.example"]
    assert (ana["given_name"], ana["surname"], ana["job_title"], ana["company_name"],
            ana["emails"]) == ("Ana", "Ruiz", "Head of Procurement", "Acme Corporation",
                               ["ana.ruiz@acme.example", "ana@acme-eu.example"])

    ews.mailbox(address).update_item(ana_id, job_title="Chief Procurement Officer")
    sync(cli, ews, name)
    [suggestion] = [json.loads(line) for line in
                    cli("contacts", "suggestions", "--json").output.splitlines()]
    assert (suggestion["contact_external_id"], suggestion["field"],
            suggestion["suggested_value"]) == ("c-1", "title", "Chief Procurement Officer")
    assert "TITLE:Head of Procurement" in cli("contacts", "export").output

    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name,domains,owner_email\n"
                        "acc-globex,Globex,globex.example,wei.zhang@northwind.example\n")
    cli("crm", "import", "--accounts", str(accounts))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("external_id,first_name,last_name,emails,phone,title,"
                        "account_external_id\nc-2,Tom,Becker,tom.becker@acme.example,"
                        "+49 30 1234567,CEO,acc-acme\n")
    cli("crm", "import", "--contacts", str(contacts))
    sync(cli, ews, name)
    folder = crm_folder(ews, address)
    assert set(folder) == {"ana.ruiz@acme.example", "tom.becker@acme.example",
                           "peter.gibbons@gmail.com"}
    assert folder["tom.becker@acme.example"][1]["job_title"] == "CEO"
    assert "hank@globex.example" in cli("contacts", "export").output


def test_a_write_at_an_old_change_key_is_refused_not_applied(ews: EwsDouble) -> None:
    # Edited in Outlook after we listed the folder: UpdateItem with NeverOverwrite at
    # the old ChangeKey is refused, and the Outlook edit stays.

    address = unique_address()
    ews.add_user(address, "pw")
    connector = EwsConnector.from_settings({"url": ews.url, "username": address,
                                            "auth": "basic"}, "pw")
    card = ContactCard("crm-c-2", "CRM", "Tom Becker", ("tom.becker@acme.example",),
                       "Tom", "Becker", "Acme", "CTO")
    stored = connector.create_crm_contact(card)
    ews.mailbox(address).update_item(stored.remote_id, job_title="Boss")
    with pytest.raises(ContactChangedError):
        connector.update_crm_contact(stored.remote_id, stored.change_key, card)
    [now] = connector.crm_folder_contacts()
    assert now.card.job_title == "Boss" and now.change_key != stored.change_key
